"""Proxy fidelity: which architectures to re-train longer, and how well the short proxy ranked them.

Re-trains (``nas.search.retrain``) K architectures of a finished study (its named variants, then
its front, then a random sample of the rest) at X times the proxy budget each trial used, with S
seeds on the same data; here, Kendall tau and Spearman rho (bootstrap intervals) of the proxy's
PSNR against the long-budget mean, next to the naive predictors params and MACs, and the seed noise.
Seed ``s`` gives every architecture the same batches in the same order (common random numbers),
so architectures are compared by paired differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial

from nas.analysis.fronts import front_mask
from nas.analysis.noise import NoiseFront, NoisyPoint, noise_aware, pooled_sd, standing
from nas.analysis.predictors import (
    LC_SELECT,
    PredictorScore,
    lc_errors,
    lc_select,
    predictor_lines,
    recorded_predictors,
    ridge_loo,
    score_predictors,
)
from nas.analysis.proxy_stats import Correlations, paired_summary, seeds_needed
from nas.analysis.verdict import Margin
from nas.confidence import LEVEL_TEXT
from nas.errors import InputError
from nas.jsonvalues import finite_or_none
from nas.study import keys
from nas.study.companion import work_key
from nas.study.records import ArchRecord
from studies import DEFAULT_ROPE
from studies.budget import ProxyBudget

DELTAS = (0.03, 0.1, 0.3)  # dB differences the seed counts are given for (--deltas)


@dataclass(frozen=True)
class Pick:
    """An architecture chosen for re-training and why."""

    record: ArchRecord
    reason: str  # "named", "front" or "random"


def select(records: Sequence[ArchRecord], k: int, sample_seed: int = 0) -> list[Pick]:
    """The named variants, then the front, then a seeded random sample of the rest, up to ``k``."""
    mask = front_mask(records)  # on every objective of the study
    named = [Pick(r, "named") for r in records if r.preset]
    on_front = [Pick(r, "front") for r, f in zip(records, mask, strict=True) if f and not r.preset]
    rest = [r for r, f in zip(records, mask, strict=True) if not f and not r.preset]
    order = np.random.default_rng(sample_seed).permutation(len(rest))
    return [*named, *on_front, *(Pick(rest[i], "random") for i in order)][:k]


def first_of(picks: Sequence[Pick], first: Sequence[str]) -> list[Pick]:
    """``picks`` with those named in ``first`` (a preset name or a spec-hash prefix) moved ahead, in that order.

    The set is unchanged, so the work keys are too: a run ordered one way resumes one ordered another.
    """
    ahead: list[Pick] = []
    for wanted in first:
        found = [
            p for p in picks if wanted in (p.record.preset, p.record.name) or p.record.spec_hash.startswith(wanted)
        ]
        if not found:
            names = ", ".join(p.record.name for p in picks)
            raise InputError(f"--first: {wanted!r} is none of the {len(picks)} chosen architectures: {names}")
        ahead += [p for p in found if p not in ahead]
    return [*ahead, *(p for p in picks if p not in ahead)]


def budget_of(record: ArchRecord, factor: float) -> ProxyBudget:
    """``factor`` times the proxy budget the trial was trained with."""
    recorded = record.attr(keys.PROXY)
    if not isinstance(recorded, dict):
        raise InputError(f"trial {record.number} has no recorded proxy budget")
    return ProxyBudget(**recorded).scaled(factor)


@dataclass(frozen=True)
class ArchFidelity:
    pick: Pick
    proxy_psnr: float
    long: dict[int, float]  # seed -> PSNR at the longer budget
    images: dict[int, dict[str, float]] = field(default_factory=dict)  # seed -> per-image PSNR, where recorded

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.long.values())))

    @property
    def sd(self) -> float:
        return float(np.std(list(self.long.values()), ddof=1)) if len(self.long) > 1 else float("nan")


@dataclass(frozen=True)
class FidelityStats:
    factor: float
    archs: tuple[ArchFidelity, ...]
    predictors: dict[str, PredictorScore]  # by name (nas.analysis.predictors)
    seed_sd: float  # pooled within-architecture SD over seeds (unpaired)
    paired_sd: float  # pooled SD of per-seed differences between architectures (common random numbers)
    pairs_resolved: int  # pairs whose paired 95 % interval excludes 0
    pairs: int
    lc_mae: dict[str, float] = field(default_factory=dict)  # curve predictor -> mean |predicted - long| (dB)
    rope: float = DEFAULT_ROPE  # the study's practical margin: the front at the long budget is decided within it

    def front_status(self) -> dict[str, str]:
        """Each architecture's standing at the long budget: front, tied (within noise) or dominated (beyond it)."""
        front = long_front(self.archs, Margin(self.rope))
        return {} if front is None else {p.name: s for p, s in zip(front.points, front.status, strict=True)}

    @property
    def proxy(self) -> Correlations:
        return self.predictors["proxy"].correlations

    def seeds_for(self, delta: float, paired: bool) -> int | None:
        sd = self.paired_sd if paired else self.seed_sd
        return None if not np.isfinite(sd) or sd == 0 else seeds_needed(sd, delta, paired=paired)

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget_x": self.factor,
            "n": len(self.archs),
            "proxy": {k: finite_or_none(v) if isinstance(v, float) else v for k, v in vars(self.proxy).items()},
            "predictors": {name: p.as_dict() for name, p in self.predictors.items()},
            "front": self.front_status(),
            "seed_sd": finite_or_none(self.seed_sd),
            "paired_sd": finite_or_none(self.paired_sd),
            "pairs_resolved": self.pairs_resolved,
            "pairs": self.pairs,
            "lc_mae": self.lc_mae,
            "archs": [
                {"trial": a.pick.record.number, "name": a.pick.record.name, "reason": a.pick.reason,
                 "proxy_psnr": a.proxy_psnr, "long": {str(s): v for s, v in a.long.items()}}
                for a in self.archs
            ],
        }  # fmt: skip


def gather(
    picks: Sequence[Pick], factor: float, done: dict[str, FrozenTrial], data: Mapping[str, Any] | None = None
) -> list[ArchFidelity]:
    """Each picked architecture with the re-training results recorded for it at ``factor`` on ``data`` (a data
    identity; None: the bundled photos)."""
    out = []
    for p in picks:
        budget = budget_of(p.record, factor)
        long, images = {}, {}
        for t in done.values():
            seed = int(t.user_attrs[keys.SEED])
            if t.user_attrs[keys.WORK_KEY] == work_key(p.record.spec_hash, budget, seed, data):
                long[seed] = float(t.user_attrs[keys.PSNR_KEY])
                if isinstance(per := t.user_attrs.get(keys.PER_IMAGE_PSNR), dict):
                    images[seed] = {str(k): float(v) for k, v in per.items()}
        if long:
            out.append(ArchFidelity(p, p.record.psnr, dict(sorted(long.items())), images))
    return out


def fidelity_stats(
    archs: Sequence[ArchFidelity],
    factor: float,
    rng: np.random.Generator,
    proxy_seeds: Mapping[str, Mapping[int, float]] | None = None,
) -> FidelityStats:
    """Every recorded predictor's rank agreement with the long-budget mean, and the seed noise.

    ``proxy_seeds`` (spec hash -> {seed: PSNR}) holds proxy-budget re-trainings, for the seed-mean predictor.
    """
    if len(archs) < 3:
        raise InputError(f"need results for at least 3 architectures, have {len(archs)}")
    target = [a.mean for a in archs]
    records = [a.pick.record for a in archs]
    found = recorded_predictors(records, [budget_of(r, factor).iterations for r in records], proxy_seeds or {})
    combined = ridge_loo(found, target)
    if combined is not None:
        found["ridge_loo"] = combined
    selected = lc_select(found, target)  # after ridge_loo: its choice uses the others' targets
    if selected is not None:
        found[LC_SELECT] = selected
    scores = score_predictors(found, target, rng)
    return FidelityStats(factor, tuple(archs), scores, *seed_noise(archs), lc_errors(found, target))


def seed_noise(archs: Sequence[ArchFidelity]) -> tuple[float, float, int, int]:
    """Pooled seed SD, pooled SD of paired differences, and how many pairs a paired interval resolves."""
    seed_sd = pooled_sd([list(a.long.values()) for a in archs])
    diff_vars, resolved, pairs = [], 0, 0
    for i, a in enumerate(archs):
        for b in archs[i + 1 :]:
            common = sorted(set(a.long) & set(b.long))
            if len(common) < 2:
                continue
            paired = paired_summary(np.array([a.long[s] for s in common]), np.array([b.long[s] for s in common]))
            diff_vars.append(paired.sd_diff**2)
            pairs += 1
            resolved += int(paired.ci_low > 0 or paired.ci_high < 0)
    paired_sd = float(np.sqrt(np.mean(diff_vars))) if diff_vars else float("nan")
    return seed_sd, paired_sd, resolved, pairs


def long_front(archs: Sequence[ArchFidelity], margin: Margin | None = None) -> NoiseFront | None:
    """The noise-aware front at the long budget: every seed's per-image PSNRs, decided within the margin."""
    points = []
    for a in archs:
        r = a.pick.record
        seeds = tuple(a.long)
        found: dict[int, Mapping[str, float] | None] = {s: a.images.get(s) for s in seeds}
        points.append(NoisyPoint(r.number, r.name, r.preset or "", r.macs, r.params, tuple(a.long.values()),
                                 None, None, seeds, found))  # fmt: skip
    return noise_aware(points, margin)


def summary(stats: FidelityStats, name: str, deltas: Sequence[float] = DELTAS) -> list[str]:
    lines = [f"{name}: proxy fidelity at {stats.factor:g}x the proxy budget, {len(stats.archs)} architectures"]
    lines.append(
        f"  {'trial':>5}  {'architecture':<18} {'why':<6} {'proxy dB':>9} {'long dB':>9} {'seed SD':>8}  seeds"
    )
    for a in sorted(stats.archs, key=lambda a: -a.mean):
        r = a.pick.record
        lines.append(
            f"  {r.number:>5}  {r.name:<18} {a.pick.reason:<6} {a.proxy_psnr:9.3f} {a.mean:9.3f} {a.sd:8.3f}  "
            f"{len(a.long)}"
        )
    front = long_front(stats.archs, Margin(stats.rope))
    if front is not None:
        lines.append(f"at {stats.factor:g}x the proxy budget, on MACs and params (noise-aware front):")
        lines += [f"  {p.name} (trial {p.number}): {standing(front, i)}" for i, p in enumerate(front.points)]
    lines.append(f"rank agreement of each predictor with the long-budget PSNR ({LEVEL_TEXT} bootstrap intervals):")
    lines += predictor_lines(stats.predictors)
    if stats.lc_mae:
        errors = ", ".join(f"{name} {mae:.3f}" for name, mae in stats.lc_mae.items())
        lines.append(f"learning-curve extrapolation to {stats.factor:g}x, mean absolute error (dB): {errors}")
    if not np.isfinite(stats.seed_sd):
        lines.append("seed noise: not measured (one seed per architecture; --seeds 2 or more measures it)")
        return lines
    lines.append(
        f"seed noise: SD {stats.seed_sd:.3f} dB per architecture; SD of paired differences {stats.paired_sd:.3f} dB;"
        f" {stats.pairs_resolved} of {stats.pairs} pairs resolved by paired {LEVEL_TEXT} intervals"
    )
    for delta in deltas:
        unpaired, paired = stats.seeds_for(delta, False), stats.seeds_for(delta, True)
        lines.append(f"  to resolve {delta:g} dB (5 % level, 80 % power): {unpaired} seeds unpaired, {paired} paired")
    return lines
