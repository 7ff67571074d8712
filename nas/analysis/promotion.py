"""Which candidates go on to the next rung: the multi-objective promotion rule of MO-ASHA.

Asynchronous successive halving (ASHA) promotes from rung r any candidate among the top
floor(n_r / eta) of the n_r candidates that have finished rung r so far, so no worker waits for
a rung to fill.  With several objectives "top" is an order, not a score: here non-dominated
sorting (``moocore.pareto_rank``) on the rung's losses (-PSNR at the rung, MACs, params), ties
within a rank broken by crowding distance (NSGA-II's: the more isolated point first, so a rank's
extremes, the cheapest and the best, go first), then by the first loss, then by index.  MACs and
params are exact at every rung, so a cheap architecture competes through them and the front keeps
its low-cost end without grouping by MACs.

``goes_on`` is the same rule for a run that cannot wait (stopping from the learning curve): at its
check it goes on if it is among the first ceil(n / eta) of the n runs that reached the check so far,
itself included, so the first run always goes on and about 1/eta of them do in the long run.
"""

from __future__ import annotations

from collections.abc import Collection

import moocore
import numpy as np
import numpy.typing as npt


def crowding(losses: npt.ArrayLike) -> np.ndarray:
    """NSGA-II crowding distance of each point within the set: inf at each objective's extremes."""
    x = np.asarray(losses, dtype=float)
    n = len(x)
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(x.shape[1]):
        order = np.argsort(x[:, k], kind="stable")
        span = x[order[-1], k] - x[order[0], k]
        out[order[0]] = out[order[-1]] = np.inf
        if span > 0:
            out[order[1:-1]] += (x[order[2:], k] - x[order[:-2], k]) / span
    return out


def promotion_order(losses: npt.ArrayLike) -> list[int]:
    """Indices best first: Pareto rank, then crowding distance (larger first), then the first loss."""
    x = np.asarray(losses, dtype=float)
    if len(x) == 0:
        return []
    rank = moocore.pareto_rank(x)
    distance = np.zeros(len(x))
    for r in np.unique(rank):
        members = np.flatnonzero(rank == r)
        distance[members] = crowding(x[members])
    return sorted(range(len(x)), key=lambda i: (int(rank[i]), -distance[i], x[i, 0], i))


def promotable(losses: npt.ArrayLike, promoted: Collection[int], eta: int) -> list[int]:
    """The candidates ASHA may promote now: the first floor(n / eta) in promotion order, not yet promoted."""
    order = promotion_order(losses)
    return [i for i in order[: len(order) // eta] if i not in promoted]


def goes_on(losses: npt.ArrayLike, index: int, eta: int) -> bool:
    """Whether run ``index`` continues past the check: among the first ceil(n / eta) in promotion order."""
    order = promotion_order(losses)
    return index in order[: -(-len(order) // eta)]
