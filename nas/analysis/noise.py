"""Pareto fronts that know the proxy is noisy: PSNR as mean +- interval over seed repeats.

A study has seed repeats when one architecture was trained with several seeds at
the proxy budget: trials of the study itself with different ``seed`` attributes,
or ``nas.fidelity --budget-x 1 --seeds S`` records in the companion study.  The
seed noise is pooled over every repeated architecture (so an architecture run
once gets the same standard deviation), and a point is called dominated only when
another point is no costlier and better in PSNR by more than the noise
(``eps = 1.96 * sqrt(se_i^2 + se_j^2)``); otherwise a dominated point is *tied
within noise*.  MACs and params are exact, so they need no interval.

Where two architectures were validated image by image with the same seed (``per_image_psnr``), the
margin is instead the half-width of the paired interval of their difference (``nas.analysis.paired``:
Student's t over images, widened by the seed noise when it was measured), so differences that every
image agrees on are resolved without seed repeats.  Without repeats the seed noise is unmeasured and
only paired comparisons can call a point dominated; the lines say so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import optuna
from optuna.trial import TrialState

from nas.analysis.fronts import dominance
from nas.analysis.paired import paired_difference, per_image
from nas.study import keys
from nas.study.companion import fidelity_records
from nas.study.objectives import objectives_of
from nas.study.records import ArchRecord, is_result

Z = 1.96
Label = Literal["front", "tied", "dominated"]
STATUS_LABELS = {"front": "on the front", "tied": "tied within noise", "dominated": "dominated beyond noise"}


def seed_results(study: optuna.Study) -> dict[str, dict[int, float]]:
    """spec_hash -> seed -> proxy PSNR, from the study's trials and its 1x fidelity records."""
    out: dict[str, dict[int, float]] = defaultdict(dict)
    objectives = objectives_of(study)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if is_result(t):  # every trained result, a second seed of one architecture included
            r = ArchRecord(t, objectives)
            out[r.spec_hash].setdefault(r.seed, r.psnr)
    for t in fidelity_records(study):
        if t.user_attrs.get(keys.BUDGET_X) == 1:
            attrs = t.user_attrs
            out[attrs[keys.SPEC_HASH]].setdefault(int(attrs[keys.SEED]), float(attrs[keys.PSNR_KEY]))
    return dict(out)


@dataclass(frozen=True)
class NoisyPoint:
    number: int
    name: str  # preset name or spec hash
    preset: str
    macs: float
    params: float
    psnr: tuple[float, ...]  # one per seed
    images: Mapping[str, float] | None = None  # per-image PSNR of the run with seed image_seed
    image_seed: int | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.psnr))


@dataclass(frozen=True)
class NoiseFront:
    points: tuple[NoisyPoint, ...]
    seed_sd: float
    status: tuple[str, ...]  # "front", "tied" or "dominated"
    rivals: tuple[tuple[int, ...], ...]  # indices of the points that dominate each (within or beyond noise)
    paired: int = 0  # comparisons whose margin came from paired per-image differences

    def se(self, i: int) -> float:
        return self.seed_sd / np.sqrt(len(self.points[i].psnr))

    def half_width(self, i: int) -> float:
        return Z * self.se(i)


def pooled_sd(samples: Sequence[Sequence[float]]) -> float:
    """Pooled within-group standard deviation of the groups with two or more values."""
    groups = [np.asarray(s, dtype=float) for s in samples if len(s) > 1]
    dof = sum(len(g) - 1 for g in groups)
    return float(np.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof)) if dof else float("nan")


def noise_front(
    costs: npt.ArrayLike,
    psnr_mean: npt.ArrayLike,
    psnr_se: npt.ArrayLike,
    z: float = Z,
    margins: npt.ArrayLike | None = None,
) -> list[Label]:
    """Label each point "front" (Pareto-optimal on means), "dominated" (beyond noise) or "tied" (only within noise).

    Costs are exact and minimised; PSNR is maximised with standard error ``psnr_se``.  j dominates i
    beyond noise if j still Pareto-dominates i after j's PSNR is lowered by z * sqrt(se_i^2 + se_j^2),
    or by ``margins[j, i]`` where that is not NaN (a paired interval's half-width; inf: never); with zero
    standard errors "front" vs the rest is the ordinary Pareto front.
    """
    c = np.array(costs, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] == 0 or not np.all(np.isfinite(c)):
        raise ValueError(f"costs must be a finite, non-empty (n, k) array, got shape {c.shape}")
    mean, se = np.asarray(psnr_mean, dtype=np.float64), np.asarray(psnr_se, dtype=np.float64)
    if mean.shape != (c.shape[0],) or se.shape != (c.shape[0],):
        raise ValueError(f"costs, psnr_mean and psnr_se disagree on n: {c.shape[0]}, {mean.shape}, {se.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(se))):
        raise ValueError("psnr_mean and psnr_se must be finite")
    if np.any(se < 0) or z < 0:
        raise ValueError("psnr_se and z must be non-negative")
    loss = np.column_stack([-mean, c])
    eps = z * np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)  # eps[j, i]: j's PSNR lowered by it
    if margins is not None:
        paired = np.asarray(margins, dtype=np.float64)
        eps = np.where(np.isnan(paired), eps, paired)
    front = ~np.any(dominance(loss), axis=0)
    beyond = np.any(dominance(loss, eps), axis=0)
    return ["front" if f else "dominated" if d else "tied" for f, d in zip(front, beyond, strict=True)]


def paired_margins(points: Sequence[NoisyPoint], seed_sd: float) -> np.ndarray:
    """[j, i]: half-width of the paired 95 % interval of j - i (same seed, 2+ images in common); NaN where none."""
    n = len(points)
    out = np.full((n, n), np.nan)
    noise = seed_sd if np.isfinite(seed_sd) else 0.0
    for j, a in enumerate(points):
        for i, b in enumerate(points):
            if i == j or a.images is None or b.images is None or a.image_seed != b.image_seed:
                continue
            if len(set(a.images) & set(b.images)) < 2:
                continue
            d = paired_difference(a.images, b.images, seed_sd=noise, runs=(len(a.psnr), len(b.psnr)))
            out[j, i] = (d.high - d.low) / 2
    return out


def noise_aware(points: Sequence[NoisyPoint]) -> NoiseFront | None:
    """The noise-aware labels, or None with neither seed repeats nor paired per-image results."""
    if not points:
        return None
    sd = pooled_sd([p.psnr for p in points])
    margins = paired_margins(points, sd)
    paired_count = np.isfinite(margins).sum()
    if not np.isfinite(sd) and not paired_count:
        return None
    costs = np.array([[p.macs, p.params] for p in points])
    mean = np.array([p.mean for p in points])
    # without a measured seed noise, an unpaired comparison can never be resolved
    se = np.array([sd / np.sqrt(len(p.psnr)) if np.isfinite(sd) else 0.0 for p in points])
    if not np.isfinite(sd):
        margins = np.where(np.isnan(margins), np.inf, margins)
    status = noise_front(costs, mean, se, Z, margins)
    beaten = dominance(np.column_stack([-mean, costs]))  # [j, i]: j dominates i on the means
    rivals = tuple(tuple(int(j) for j in np.flatnonzero(beaten[:, i])) for i in range(len(points)))
    return NoiseFront(tuple(points), sd, tuple(status), rivals, int(paired_count))


def noisy_points(records: Sequence[ArchRecord], seeds: Mapping[str, Mapping[int, float]]) -> list[NoisyPoint]:
    """The architectures with seed results, their PSNRs in seed order."""
    out = []
    for r in records:
        runs = seeds.get(r.spec_hash, {})
        if runs:
            values = tuple(v for _, v in sorted(runs.items()))
            out.append(NoisyPoint(r.number, r.name, r.preset or "", r.macs, r.params, values, per_image(r), r.seed))
    return out


def noise_lines(front: NoiseFront) -> list[str]:
    """Sentences: the seed noise, and each named variant's standing."""
    repeated = sum(len(p.psnr) > 1 for p in front.points)
    if np.isfinite(front.seed_sd):
        lines = [
            f"Seed repeats: {repeated} of {len(front.points)} architectures were trained with 2 or more seeds; pooled"
            f" seed SD {front.seed_sd:.3f} dB. PSNR is the mean over seeds with a 95 % interval; a point is dominated"
            " only beyond that noise."
        ]
    else:
        lines = [
            "Seed repeats: none, so the seed noise is not measured; a point is called dominated only by a paired"
            " per-image difference of the same seed whose 95 % interval excludes 0 (an interval over validation"
            " images only, narrower than one that includes seed noise)."
        ]
    if front.paired:
        lines.append(
            f"{front.paired} ordered comparisons used paired per-image differences (same seed and images) instead"
            " of the seed noise alone."
        )
    for i, p in enumerate(front.points):
        if p.preset:
            lines.append(f"{p.preset} (trial {p.number}): {standing(front, i)}.")
    return lines


def standing(front: NoiseFront, i: int) -> str:
    p = front.points[i]
    spread = f" +- {front.half_width(i):.3f}" if np.isfinite(front.seed_sd) else ""
    head = f"{p.mean:.3f}{spread} dB over {len(p.psnr)} seed(s)"
    rivals = [front.points[j] for j in front.rivals[i]]
    best = max(rivals, key=lambda r: r.mean, default=None)
    if front.status[i] == "front" or best is None:
        return f"{head}, on the front"
    verb = "dominated beyond noise by" if front.status[i] == "dominated" else "tied within noise with"
    return f"{head}, {verb} {best.name} (trial {best.number}, {best.mean:.3f} dB)"
