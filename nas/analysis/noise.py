"""Pareto fronts that know the proxy is noisy: a point is dominated only beyond the study's practical margin.

A study has seed repeats when one architecture was trained with several seeds at the proxy budget: trials of the
study itself with different ``seed`` attributes, or ``nas.fidelity --budget-x 1 --seeds S`` records (on the
study's data) in the companion study.  Every architecture that another beats on the means (no costlier, PSNR at
least as high) is compared with that rival by ``nas.analysis.verdict``: per-image, per-seed PSNRs in a crossed
model (the seed noise pooled over every architecture, the images a sample when every run has per-image PSNRs,
else the means as given), decided within the study's ROPE.  The point is *dominated* only when a rival that
costs no more is better by more than the ROPE; otherwise it is *tied*, and its line says why (practically
equivalent, or not decided and what is missing: with one seed everywhere the seed noise is not measured and
nothing is called dominated).  MACs and params are exact, so they need no interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import optuna
from optuna.trial import TrialState

from nas.analysis.fronts import dominance
from nas.analysis.paired import per_image
from nas.analysis.verdict import ImageModel, Margin, PairVerdict, Run, common_images, compare_all, fit_seed_model
from nas.confidence import Z
from nas.study import keys
from nas.study.companion import data_key, fidelity_records
from nas.study.objectives import objectives_of
from nas.study.records import ArchRecord, is_result

Label = Literal["front", "tied", "dominated"]
STATUS_LABELS = {
    "front": "on the front",
    "tied": "tied (not beyond the margin)",
    "dominated": "dominated beyond the margin",
}

SeedImages = dict[str, dict[int, dict[str, float] | None]]  # spec hash -> seed -> per-image PSNR (None: not recorded)


def seed_runs(study: optuna.Study) -> tuple[dict[str, dict[int, float]], SeedImages]:
    """spec_hash -> seed -> proxy PSNR, and the per-image PSNRs where recorded: the study's own trials and its 1x
    fidelity records on the study's data (records on other data never count)."""
    psnr: dict[str, dict[int, float]] = defaultdict(dict)
    images: SeedImages = defaultdict(dict)
    objectives = objectives_of(study)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if is_result(t):  # every trained result, a second seed of one architecture included
            r = ArchRecord(t, objectives)
            if r.seed not in psnr[r.spec_hash]:
                psnr[r.spec_hash][r.seed], images[r.spec_hash][r.seed] = r.psnr, per_image(r)
    mine = data_key(study.user_attrs.get(keys.STUDY_DATA))
    for t in fidelity_records(study):
        attrs = t.user_attrs
        if attrs.get(keys.BUDGET_X) != 1 or data_key(attrs.get(keys.DATA)) != mine:
            continue
        spec_hash, seed = str(attrs[keys.SPEC_HASH]), int(attrs[keys.SEED])
        if seed not in psnr[spec_hash]:
            psnr[spec_hash][seed] = float(attrs[keys.PSNR_KEY])
            found = attrs.get(keys.PER_IMAGE_PSNR)
            images[spec_hash][seed] = {str(k): float(v) for k, v in found.items()} if isinstance(found, dict) else None
    return dict(psnr), dict(images)


def seed_results(study: optuna.Study) -> dict[str, dict[int, float]]:
    """spec_hash -> seed -> proxy PSNR, from the study's trials and its 1x fidelity records."""
    return seed_runs(study)[0]


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
    seeds: tuple[int, ...] = ()  # the seed of each PSNR (default 0, 1, ...)
    seed_images: Mapping[int, Mapping[str, float] | None] = field(default_factory=dict)  # seed -> per-image PSNR

    @property
    def mean(self) -> float:
        return float(np.mean(self.psnr))

    def runs(self, key: str) -> list[tuple[int, float, Mapping[str, float] | None]]:
        """(seed, PSNR, per-image PSNR or None) of each run."""
        seeds = self.seeds or tuple(range(len(self.psnr)))
        out = []
        for seed, value in zip(seeds, self.psnr, strict=True):
            found = self.seed_images.get(seed)
            if found is None and seed == self.image_seed:
                found = self.images
            out.append((seed, value, found))
        return out


@dataclass(frozen=True)
class NoiseFront:
    points: tuple[NoisyPoint, ...]
    seed_sd: float  # the pooled seed noise of the decisions' model (nan: not measured)
    status: tuple[str, ...]  # "front", "tied" or "dominated"
    rivals: tuple[tuple[int, ...], ...]  # indices of the points that beat each on the means
    verdicts: Mapping[tuple[int, int], PairVerdict] = field(default_factory=dict)  # (rival j, point i): j - i
    margin: Margin = field(default_factory=Margin)
    images: int = 0  # validation images the decisions rest on (0: the means as given)
    runs: int = 0

    def se(self, i: int) -> float:
        return self.seed_sd / np.sqrt(len(self.points[i].psnr)) if np.isfinite(self.seed_sd) else float("nan")

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


def decision_runs(points: Sequence[NoisyPoint]) -> tuple[list[Run], ImageModel]:
    """Every point's runs for the verdicts: per image when every run has 2 or more images in common with the
    others (the images a sample), else the mean PSNRs as given (a verdict about these validation images only)."""
    rows = [(str(k), seed, value, found) for k, p in enumerate(points) for seed, value, found in p.runs(str(k))]
    runs = [Run(arch, 1.0, seed, dict(found)) for arch, seed, _, found in rows if found is not None]
    if len(runs) == len(rows) and len(common_images(runs)) >= 2:
        return runs, "random"
    return [Run(arch, 1.0, seed, {"mean": value}) for arch, seed, value, _ in rows], "fixed"


def noise_aware(points: Sequence[NoisyPoint], margin: Margin | None = None) -> NoiseFront | None:
    """Front, tied or dominated beyond the margin for each point; None with neither seed repeats nor per-image
    PSNRs (nothing beyond the means to decide with)."""
    if not points:
        return None
    runs, model = decision_runs(points)
    repeated = any(len(p.psnr) > 1 for p in points)
    if not repeated and model == "fixed":
        return None
    margin = replace(margin or Margin(), images=model)
    costs = np.array([[p.macs, p.params] for p in points])
    mean = np.array([p.mean for p in points])
    beaten = dominance(np.column_stack([-mean, costs]))  # [j, i]: j dominates i on the means
    pairs = [(str(j), str(i)) for j, i in zip(*np.nonzero(beaten), strict=True)]
    verdicts = {(int(v.a), int(v.b)): v for v in compare_all(runs, pairs, margin)}
    rivals = tuple(tuple(int(j) for j in np.flatnonzero(beaten[:, i])) for i in range(len(points)))
    status = tuple(
        "front" if not rivals[i] else "dominated" if any(verdicts[(j, i)].decision == "better" for j in rivals[i])
        else "tied"
        for i in range(len(points))
    )  # fmt: skip
    images = len(common_images(runs)) if model == "random" else 0
    seed_sd = fit_seed_model(runs, common_images(runs)).residual_sd if runs else float("nan")
    return NoiseFront(tuple(points), seed_sd, status, rivals, verdicts, margin, images, len(runs))


def noisy_points(
    records: Sequence[ArchRecord], seeds: Mapping[str, Mapping[int, float]], images: SeedImages | None = None
) -> list[NoisyPoint]:
    """The architectures with seed results, their PSNRs in seed order (and per-image PSNRs where recorded)."""
    out = []
    for r in records:
        runs = seeds.get(r.spec_hash, {})
        if runs:
            ordered = sorted(runs.items())
            values = tuple(v for _, v in ordered)
            found = dict((images or {}).get(r.spec_hash, {}))
            point = NoisyPoint(r.number, r.name, r.preset or "", r.macs, r.params, values, per_image(r), r.seed,
                               tuple(s for s, _ in ordered), found)  # fmt: skip
            out.append(point)
    return out


def noise_lines(front: NoiseFront) -> list[str]:
    """Sentences: what the decisions rest on, and each named variant's standing."""
    m = front.margin
    repeated = sum(len(p.psnr) > 1 for p in front.points)
    rests = f"{front.images} validation images as a sample" if front.images else "the mean PSNRs as given"
    if np.isfinite(front.seed_sd):
        lines = [
            f"Noise-aware front: a point is dominated only when a rival that costs no more is better by more than "
            f"the ROPE of +-{m.rope:g} dB (TOST at alpha {m.alpha:g}); {repeated} of {len(front.points)} "
            f"architectures have 2 or more seeds, seed noise SD {front.seed_sd:.3f} dB pooled over {front.runs} "
            f"runs; images: {rests}."
        ]
    else:
        lines = [
            "Seed repeats: none, so the seed noise is not measured and no point is called dominated (nas.fidelity"
            f" --budget-x 1 --seeds 2 measures it); differences are then decided within +-{m.rope:g} dB."
        ]
    for i, p in enumerate(front.points):
        if p.preset:
            lines.append(f"{p.preset} (trial {p.number}): {standing(front, i)}.")
    return lines


def standing(front: NoiseFront, i: int) -> str:
    p = front.points[i]
    spread = f" +- {front.half_width(i):.3f}" if np.isfinite(front.seed_sd) else ""
    head = f"{p.mean:.3f}{spread} dB over {len(p.psnr)} seed(s)"
    if front.status[i] == "front" or not front.rivals[i]:
        return f"{head}, on the front"
    m = front.margin
    if front.status[i] == "dominated":
        j = max((j for j in front.rivals[i] if front.verdicts[(j, i)].decision == "better"),
                key=lambda j: front.verdicts[(j, i)].difference)  # fmt: skip
        v, r = front.verdicts[(j, i)], front.points[j]
        return (f"{head}, dominated beyond the +-{m.rope:g} dB margin by {r.name} (trial {r.number}, "
                f"{v.difference:+.3f} dB [{v.low:+.3f}, {v.high:+.3f}])")  # fmt: skip
    j = max(front.rivals[i], key=lambda j: front.points[j].mean)
    v, r = front.verdicts[(j, i)], front.points[j]
    why = f"practically equivalent within +-{m.rope:g} dB" if v.decision == "equivalent" else f"not decided: {v.reason}"
    if v.decision == "open" and math.isfinite(v.se):
        why = f"not decided ({v.difference:+.3f} dB [{v.low:+.3f}, {v.high:+.3f}])"
    return f"{head}, tied with {r.name} (trial {r.number}, {r.mean:.3f} dB): {why}"
