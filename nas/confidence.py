"""The one confidence level of every interval the tool prints (95 %), and its two-sided normal quantile.

Outside the layers so that both nas.sr (region intervals) and nas.analysis (fronts, pairs, ranks) read it.
"""

from statistics import NormalDist

LEVEL = 0.95
Z = NormalDist().inv_cdf(0.5 + LEVEL / 2)  # 1.96
LEVEL_TEXT = f"{LEVEL * 100:g} %"  # as printed: "95 %"
