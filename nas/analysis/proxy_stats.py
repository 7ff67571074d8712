"""Statistics of a proxy: how well its ranking agrees with the target's, and how noisy its seeds are.

Proxy fidelity is judged by rank correlation with percentile-bootstrap intervals; seed noise by paired
summaries and a sample-size formula (the noise-aware front is ``nas.analysis.noise``).  Every random function
takes an explicit ``np.random.Generator`` so a result is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from nas.analysis.inputs import Array, finite_vector, interval_quantiles, resample_count
from nas.confidence import LEVEL

MIN_INTERVAL_POINTS = 5  # fewer pairs: a percentile bootstrap of ranks is nearly a permutation of the sample


@dataclass(frozen=True)
class Correlations:
    """Kendall tau-b and Spearman rho with percentile-bootstrap intervals."""

    kendall_tau: float
    tau_low: float
    tau_high: float
    spearman_rho: float
    rho_low: float
    rho_high: float
    n: int
    n_boot: int  # resamples actually used (constant resamples are skipped; 0: too few pairs for an interval)

    def interval_text(self, low: float, high: float) -> str:
        """``[+0.21, +0.88]``, or why there is none."""
        if math.isnan(low):
            return f"[not enough data: n = {self.n}, {MIN_INTERVAL_POINTS} or more]"
        return f"[{low:+.2f}, {high:+.2f}]"


@dataclass(frozen=True)
class Paired:
    """Summary of per-seed differences a - b between two architectures trained with the same seeds."""

    mean_diff: float
    sd_diff: float
    sd_a: float
    sd_b: float
    n: int
    ci_low: float
    ci_high: float


def _rank_pair(x: Array, y: Array) -> tuple[float, float]:
    """Kendall tau-b and Spearman rho of one sample of pairs."""
    return float(sps.kendalltau(x, y).statistic), float(sps.spearmanr(x, y).statistic)


def _rank_rows(x: Array, y: Array) -> tuple[Array, Array]:
    """Kendall tau-b and Spearman rho of many samples at once (rows of x and y; no row constant).

    tau-b = sum sign(dx) sign(dy) / sqrt(sum sign(dx)^2 sum sign(dy)^2) over all ordered pairs;
    rho = Pearson correlation of average ranks.  Equal to scipy's row by row (a test checks it).
    """
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    tau = (sx * sy).sum(axis=(1, 2)) / np.sqrt((sx**2).sum(axis=(1, 2)) * (sy**2).sum(axis=(1, 2)))
    rx = sps.rankdata(x, axis=1) - (x.shape[1] + 1) / 2
    ry = sps.rankdata(y, axis=1) - (y.shape[1] + 1) / 2
    rho = (rx * ry).sum(axis=1) / np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    return tau, rho


def rank_correlations(
    x: npt.ArrayLike, y: npt.ArrayLike, *, n_boot: int = 2000, level: float = LEVEL, rng: np.random.Generator
) -> Correlations:
    """Kendall tau-b and Spearman rho between proxy and target, with percentile-bootstrap intervals over pairs.

    Resamples in which x or y is constant (correlation undefined) are skipped; ``n_boot`` in the result counts the rest.
    With fewer than ``MIN_INTERVAL_POINTS`` pairs the intervals are NaN (not enough data): the resamples of 3 points
    that keep 3 distinct values are the sample itself, so the interval would be the point (``[+1.00, +1.00]``).
    """
    vx, vy = finite_vector(x, "x"), finite_vector(y, "y")
    if vx.size != vy.size or vx.size < 3:
        raise ValueError(f"need two samples of equal length >= 3, got {vx.size} and {vy.size}")
    if np.ptp(vx) == 0 or np.ptp(vy) == 0:
        raise ValueError("x and y must each take at least two distinct values")
    lo, hi = interval_quantiles(level)
    if vx.size < MIN_INTERVAL_POINTS:
        tau, rho = _rank_pair(vx, vy)
        nan = float("nan")
        return Correlations(tau, nan, nan, rho, nan, nan, vx.size, 0)
    draws = rng.integers(0, vx.size, size=(resample_count(n_boot, "n_boot"), vx.size))
    bx, by = vx[draws], vy[draws]
    usable = (np.ptp(bx, axis=1) > 0) & (np.ptp(by, axis=1) > 0)
    if not usable.any():
        raise ValueError("every bootstrap resample was constant")
    boot = np.stack(_rank_rows(bx[usable], by[usable]), axis=1)
    tau, rho = _rank_pair(vx, vy)
    (tau_low, rho_low), (tau_high, rho_high) = np.quantile(boot, [lo, hi], axis=0)
    return Correlations(tau, float(tau_low), float(tau_high), rho, float(rho_low), float(rho_high), vx.size, len(boot))


def seeds_needed(sd: float, delta: float, alpha: float = 0.05, power: float = 0.8, paired: bool = False) -> int:
    """Seeds per variant to resolve a difference ``delta`` at two-sided ``alpha`` with ``power`` (normal approximation).

    Unpaired: n = 2 (z_{1-alpha/2} + z_power)^2 sd^2 / delta^2; paired (sd of the differences): half that.
    At least 2, since a standard deviation needs two seeds.
    """
    if sd <= 0 or delta <= 0:
        raise ValueError(f"sd and delta must be positive, got sd={sd}, delta={delta}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must be in (0, 1), got alpha={alpha}, power={power}")
    z = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    n = (1 if paired else 2) * z**2 * sd**2 / delta**2
    return max(2, math.ceil(n - 1e-9))  # the tolerance keeps float noise from adding a seed


def paired_summary(a: npt.ArrayLike, b: npt.ArrayLike, level: float = LEVEL) -> Paired:
    """Mean and Student-t interval of per-seed differences a - b (same seeds: common random numbers)."""
    va, vb = finite_vector(a, "a"), finite_vector(b, "b")
    if va.size != vb.size or va.size < 2:
        raise ValueError(f"need paired samples of equal length >= 2, got {va.size} and {vb.size}")
    d = va - vb
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = float(sps.t.ppf(interval_quantiles(level)[1], d.size - 1)) * sd / math.sqrt(d.size)
    return Paired(mean, sd, float(va.std(ddof=1)), float(vb.std(ddof=1)), d.size, mean - half, mean + half)
