"""Pareto dominance, fronts, hypervolume and the knee: the one implementation every tool uses.

Points are tuples of objective values with a direction each ("maximize" or "minimize");
internally everything is a loss (minimised).  Hypervolume is moocore's (exact, any dimension).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import moocore
import numpy as np
import numpy.typing as npt

from nas.study.records import ArchRecord
from studies import MACS, PSNR

Values = Sequence[float]
MARGIN = 0.1  # hypervolume reference point: each objective's worst value plus 10 % of its range


def losses(points: Sequence[Values], directions: Sequence[str]) -> np.ndarray:
    """Points as an (n, k) array of losses: maximised objectives negated."""
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(points, dtype=np.float64).reshape(len(points), len(directions)) * sign


def dominance(loss: np.ndarray, slack: np.ndarray | None = None, column: int = 0) -> npt.NDArray[np.bool_]:
    """[j, i]: j Pareto-dominates i (no worse everywhere, better somewhere).

    ``slack[j, i]`` is added to j's loss in ``column`` before comparing (a noise margin that j must
    beat i by there); None compares the losses as they are.
    """
    lj = np.broadcast_to(loss[:, None, :], (len(loss), *loss.shape)).copy()
    if slack is not None:
        lj[:, :, column] += slack
    li = loss[None, :, :]
    return np.all(lj <= li, axis=2) & np.any(lj < li, axis=2)


def dominates(a: Values, b: Values, directions: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and strictly better in one."""
    return bool(dominance(losses([a, b], directions))[0, 1])


def pareto_mask(points: Sequence[Values], directions: Sequence[str]) -> list[bool]:
    """For each point, whether no other point dominates it (equal points are all kept)."""
    if not points:
        return []
    beaten: np.ndarray = np.any(dominance(losses(points, directions)), axis=0)
    return [not bool(b) for b in beaten.tolist()]


def front_mask(records: Sequence[ArchRecord]) -> list[bool]:
    """For each record, whether no other record dominates it on all of the study's objectives."""
    return pareto_mask([r.point for r in records], records[0].directions) if records else []


def front(records: Sequence[ArchRecord]) -> list[ArchRecord]:
    """The records no other record dominates on all of the study's objectives."""
    return [r for r, on in zip(records, front_mask(records), strict=True) if on]


def scaled_losses(points: Sequence[Values], directions: Sequence[str]) -> list[tuple[float, ...]]:
    """Points as losses scaled per objective to [0, 1]: 0 = the best value among them, 1 = the worst."""
    if not points:
        return []
    loss = losses(points, directions)
    low = loss.min(axis=0)
    span = loss.max(axis=0) - low
    span[span == 0] = 1.0
    return [tuple(float(x) for x in row) for row in (loss - low) / span]


def hypervolume(points: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """Exact volume dominated by ``points`` (all objectives minimised) inside the box bounded by ``reference``.

    Points not strictly better than the reference in every objective add nothing.
    """
    ref = np.asarray(reference, dtype=np.float64)
    pts = np.array(points, dtype=np.float64)
    if ref.ndim != 1 or ref.size == 0 or not np.all(np.isfinite(ref)):
        raise ValueError(f"reference must be a finite, non-empty vector, got {ref!r}")
    if pts.size == 0:
        return 0.0
    if pts.ndim != 2 or pts.shape[1] != ref.size or not np.all(np.isfinite(pts)):
        raise ValueError(f"points must be a finite (n, {ref.size}) array, got shape {pts.shape}")
    inside = pts[np.all(pts < ref, axis=1)]
    return float(moocore.hypervolume(inside, ref=ref)) if len(inside) else 0.0


def hypervolume_history(points: Sequence[Values], directions: Sequence[str], margin: float = MARGIN) -> list[float]:
    """Hypervolume after each point, as a fraction of the box from the ideal point to the reference point.

    Objectives are scaled by :func:`scaled_losses` over all the points; the reference point is
    ``1 + margin`` in every scaled objective (the worst value plus ``margin`` of the range).
    """
    reference = (1.0 + margin,) * len(directions)
    box = math.prod(reference)
    scaled = scaled_losses(points, directions)
    return [hypervolume(scaled[: i + 1], reference) / box for i in range(len(scaled))]


def knee(records: Sequence[ArchRecord]) -> ArchRecord:
    """The knee of a front on PSNR vs MACs.

    MACs and PSNR are each scaled to [0, 1] over the front (as losses: 0 = fewest MACs, best PSNR).
    The extremes are the cheapest point and the best; the knee is the point farthest from the line
    joining them on the side of few MACs and high PSNR (signed distance, so a point that only wins
    on params and lies below the line never counts as far).  Ties, as in a front of one or two
    points, go to fewer MACs, then higher PSNR, then the lower trial number.
    """
    if not records:
        raise ValueError("the front is empty")
    scaled = scaled_losses([(r.macs, r.psnr) for r in records], (MACS.direction, PSNR.direction))
    xs, ys = [s[0] for s in scaled], [s[1] for s in scaled]
    order = range(len(records))
    cheap = min(order, key=lambda i: (xs[i], ys[i], records[i].number))
    best = min(order, key=lambda i: (ys[i], xs[i], records[i].number))
    dx, dy = xs[best] - xs[cheap], ys[best] - ys[cheap]

    def rank(i: int) -> tuple[float, float, float, int]:
        above = dy * (xs[i] - xs[cheap]) - dx * (ys[i] - ys[cheap])  # distance past the line times its length
        return -above, xs[i], ys[i], records[i].number

    return records[min(order, key=rank)]
