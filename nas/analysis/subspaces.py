"""Is *this kind* of multi-scale conv better than *that kind*?  Sub-space EDFs of a study (``nas.analyze``).

Design-space statistics in the manner of Radosavovic et al. (pycls): a sub-space
is a predicate over a spec's features (``space.features``).  For each sub-space the
empirical distribution function (EDF) of the proxy error — dB below the best
architecture of the study — with a bootstrap band, and the complexity-normalised
EDF (models reweighted so that every compared sub-space has the same distribution
of MACs over shared log-MAC bins).  Pairs of sub-spaces are compared by the
two-sample KS distance with a permutation p-value (within MAC bins when normalised).

EDFs need unbiased samples: run the study with ``nas.search --sampler random``.
Each distinct architecture counts once; where it has seed repeats at the proxy budget
(``nas.fidelity --budget-x 1``), its PSNR is their mean.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from nas.analysis.noise import seed_results
from nas.analysis.stats import Normalised, TestResult, complexity_weights, permutation_test
from nas.errors import InputError
from nas.study import keys
from nas.study.companion import fidelity_records
from nas.study.records import ArchRecord, arch_records
from space.features import Predicate, features

GRID_POINTS = 200


@dataclass(frozen=True)
class SubSpace:
    """The distinct architectures a predicate selects, with their proxy error (dB below the study's best)."""

    name: str
    predicate: Predicate
    members: tuple[ArchRecord, ...]
    error: np.ndarray
    macs: np.ndarray

    @property
    def n(self) -> int:
        return len(self.members)

    def best(self) -> ArchRecord:
        return self.members[int(np.argmin(self.error))]


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    plain: TestResult
    normalised: TestResult | None  # None: the two share no MAC bin


@dataclass(frozen=True)
class SubspaceAnalysis:
    study: str
    sampler: str
    best_psnr: float
    subspaces: tuple[SubSpace, ...]
    normalised: Normalised | None
    comparisons: tuple[Comparison, ...]
    grid: np.ndarray
    seed_means: int = 0  # architectures whose PSNR is a mean over seeds
    budget_x: float = 1.0  # 1: the proxy; else nas.fidelity's re-trainings at this multiple
    empty: tuple[str, ...] = ()  # the study's own sub-spaces that hold none of its architectures
    region: str | None = None  # None: PSNR over whole images; else over one region class's pixels (psnr_<region>)


def split_records(
    records: Sequence[ArchRecord],
    predicates: dict[str, Predicate],
    best_psnr: float,
    psnr: Mapping[str, float] | None = None,
    optional: Collection[str] = (),
) -> tuple[list[SubSpace], list[str]]:
    """Each sub-space's members, and the names of the empty ``optional`` ones (the study's own, which a
    short study may not have reached); any other empty one is an error (a predicate that selects nothing
    is a typo).  ``psnr`` maps spec_hash -> the PSNR to use (a seed mean); the trial's own value otherwise.
    """
    feats = [features(r.spec) for r in records]
    value = psnr or {}
    out, empty = [], []
    for name, predicate in predicates.items():
        members = tuple(r for r, f in zip(records, feats, strict=True) if predicate(f))
        if not members and name in optional:
            empty.append(name)
            continue
        if not members:
            raise InputError(f"sub-space {name} ({predicate.text}) selects none of the {len(records)} architectures")
        error = np.array([best_psnr - value.get(r.spec_hash, r.psnr) for r in members])
        out.append(SubSpace(name, predicate, members, error, np.array([r.macs for r in members])))
    if not out:
        raise InputError(f"no sub-space holds any of the {len(records)} architectures ({', '.join(empty)} are empty)")
    return out, empty


def normalise(subspaces: Sequence[SubSpace], bins: int) -> Normalised | None:
    """Complexity weights over the compared sub-spaces, or None when they share no MAC bin."""
    try:
        return complexity_weights([s.macs for s in subspaces], bins)
    except ValueError:
        return None


def compare(a: SubSpace, b: SubSpace, bins: int, n_perm: int, rng: np.random.Generator) -> Comparison:
    """KS distance and permutation p-value, plain and within shared MAC bins."""
    plain = permutation_test(a.error, b.error, n_perm=n_perm, rng=rng)
    pair = normalise([a, b], bins)
    normalised = None
    if pair is not None:
        sa, sb = pair.strata
        normalised = permutation_test(a.error, b.error, strata_a=sa, strata_b=sb, n_perm=n_perm, rng=rng)
    return Comparison(a.name, b.name, plain, normalised)


def analyse(
    study: optuna.Study,
    predicates: dict[str, Predicate],
    pairs: Sequence[tuple[str, str]],
    bins: int = 4,
    n_perm: int = 2000,
    seed: int = 0,
    budget_x: float = 1.0,
    optional: Collection[str] = (),
    region: str | None = None,
) -> SubspaceAnalysis:
    """The whole analysis of one study, pure apart from reading it.

    ``budget_x`` other than 1 analyses the re-trainings ``nas.fidelity`` recorded at that multiple
    of the proxy budget (mean over seeds), over the architectures that have them.  ``region`` compares on the
    PSNR over one region class's pixels (``nas.sr.region_scores``), e.g. dense detail alone.
    """
    key = keys.PSNR_KEY if region is None else keys.region_key(region)
    records = arch_records(study)
    if region is not None:
        check_region(records, region)
    means = psnr_means(study, budget_x, key)
    if budget_x == 1 and region is not None:  # each architecture's own run: seed repeats are averaged on whole images
        means = {r.spec_hash: float(v) for r in records if isinstance(v := r.trial.user_attrs.get(key), (int, float))}
    if budget_x != 1 or region is not None:
        records = [r for r in records if r.spec_hash in means]
    if len(records) < 2:
        where = f" with {key} (trials recorded before per-region PSNR have none)" if region else ""
        raise InputError(
            f"--study: {study.study_name!r} has {len(records)} finished architectures{where}"
            f"{f' re-trained at {budget_x:g}x (run nas.fidelity)' if budget_x != 1 else ''}; need 2 or more"
        )
    best = max(means.get(r.spec_hash, r.psnr) for r in records)
    subspaces, empty = split_records(records, predicates, best, means, optional)
    by_name = {s.name: s for s in subspaces}
    rng = np.random.default_rng(seed)
    held = [(a, b) for a, b in pairs if a in by_name and b in by_name]  # pairs with an empty side are not tested
    comparisons = tuple(compare(by_name[a], by_name[b], bins, n_perm, rng) for a, b in held)
    top = max(float(s.error.max()) for s in subspaces)
    grid = np.linspace(0.0, top * 1.02 + 1e-9, GRID_POINTS)
    sampler = str(study.user_attrs.get(keys.SAMPLER, "unknown"))
    return SubspaceAnalysis(
        study.study_name,
        sampler,
        best,
        tuple(subspaces),
        normalise(subspaces, bins),
        comparisons,
        grid,
        len(means),
        budget_x,
        tuple(empty),
        region,
    )


def check_region(records: Sequence[ArchRecord], region: str) -> None:
    """InputError unless some architecture recorded its PSNR over ``region``; it names those recorded."""
    recorded = {k.removeprefix(keys.REGION_PREFIX) for r in records for k in keys.region_keys(r.trial.user_attrs)}
    if region not in recorded:
        raise InputError(f"--region: {region!r} (recorded in this study: {', '.join(sorted(recorded)) or 'none'})")


def psnr_means(study: optuna.Study, budget_x: float, key: str = keys.PSNR_KEY) -> dict[str, float]:
    """spec_hash -> mean PSNR over seeds: 1x repeats (2 or more seeds, whole images), or the re-trainings at
    ``budget_x`` (their ``key``: whole images or one region class)."""
    if budget_x == 1:
        repeated = {h: runs for h, runs in seed_results(study).items() if len(runs) > 1}
        return {h: float(np.mean(list(runs.values()))) for h, runs in repeated.items()}
    runs: dict[str, list[float]] = {}
    for t in fidelity_records(study):
        if t.user_attrs.get(keys.BUDGET_X) == budget_x and isinstance(value := t.user_attrs.get(key), (int, float)):
            runs.setdefault(str(t.user_attrs[keys.SPEC_HASH]), []).append(float(value))
    return {h: float(np.mean(v)) for h, v in runs.items()}


# ---- text ----


MIN_ARCHITECTURES = 5  # below this a sub-space's EDF, band and test are printed with a warning


def summary(analysis: SubspaceAnalysis) -> list[str]:
    over = "" if analysis.region is None else f" on {analysis.region} regions only ({keys.region_key(analysis.region)})"
    lines = [
        f"{analysis.study}: {len(analysis.subspaces)} sub-spaces; error = dB below the best"
        f" ({analysis.best_psnr:.3f}){over}"
    ]
    if analysis.empty:
        lines.append(
            f"empty sub-spaces (none of the study's architectures lies in them; not analysed): "
            f"{', '.join(analysis.empty)}"
        )
    if analysis.budget_x != 1:
        lines.append(
            f"PSNR at {analysis.budget_x:g}x the proxy budget (nas.fidelity re-trainings), mean over seeds, for the"
            f" {analysis.seed_means} architectures re-trained"
        )
    elif analysis.seed_means:
        lines.append(
            f"PSNR is the mean over seed repeats for {analysis.seed_means} architectures (proxy budget,"
            " nas.fidelity --budget-x 1), the single run for the rest"
        )
    if analysis.sampler != "random":
        lines.append(
            f"warning: sampler {analysis.sampler!r} is not random, so these EDFs describe what the search tried,"
            " not the space (use nas.search --sampler random)"
        )
    lines.append(f"  {'sub-space':<12} {'n':>3} {'mean dB':>8} {'best dB':>8} {'mean err':>9} {'norm err':>9}  best")
    weights = analysis.normalised.weights if analysis.normalised else [None] * len(analysis.subspaces)
    for s, w in zip(analysis.subspaces, weights, strict=True):
        psnr = analysis.best_psnr - s.error
        norm = f"{float(np.sum(w * s.error)):9.3f}" if w is not None and w.sum() > 0 else f"{'-':>9}"
        lines.append(
            f"  {s.name:<12} {s.n:>3} {psnr.mean():8.3f} {psnr.max():8.3f} {s.error.mean():9.3f} {norm}  "
            f"{s.best().name} (trial {s.best().number})   [{s.predicate.text}]"
        )
    few = [f"{s.name} (n = {s.n})" for s in analysis.subspaces if s.n < MIN_ARCHITECTURES]
    if few:
        lines.append(
            f"  warning: {', '.join(few)} hold fewer than {MIN_ARCHITECTURES} architectures: their EDFs, bootstrap"
            " bands and KS p-values say little (with 2 against 2 no KS p-value can fall below 0.3)"
        )
    if analysis.normalised is None and len(analysis.subspaces) > 1:
        lines.append("  (no MAC bin holds every sub-space: no normalised EDF across all of them)")
    for c in analysis.comparisons:
        norm = (
            f"normalised D {c.normalised.statistic:.3f} p {c.normalised.p_value:.4f}"
            if c.normalised
            else "no shared MAC bin"
        )
        lines.append(f"  {c.a} vs {c.b}: KS D {c.plain.statistic:.3f} p {c.plain.p_value:.4f}; {norm}")
    overlap = overlapping(analysis.subspaces)
    if overlap:
        lines.append(f"  note: overlapping sub-spaces (shared architectures): {', '.join(overlap)}")
    return lines


def overlapping(subspaces: Sequence[SubSpace]) -> list[str]:
    out = []
    for a, b in itertools.combinations(subspaces, 2):
        shared = {r.spec_hash for r in a.members} & {r.spec_hash for r in b.members}
        if shared:
            out.append(f"{a.name}/{b.name} ({len(shared)})")
    return out


def as_dict(analysis: SubspaceAnalysis) -> dict[str, Any]:
    weights = analysis.normalised.weights if analysis.normalised else [None] * len(analysis.subspaces)
    return {
        "study": analysis.study,
        "sampler": analysis.sampler,
        "best_psnr": analysis.best_psnr,
        "seed_means": analysis.seed_means,
        "budget_x": analysis.budget_x,
        "region": analysis.region,
        "subspaces": [
            {
                "name": s.name,
                "predicate": s.predicate.text,
                "trials": [r.number for r in s.members],
                "error": s.error.tolist(),
                "macs": s.macs.tolist(),
                "normalised_weight": None if w is None else w.tolist(),
            }
            for s, w in zip(analysis.subspaces, weights, strict=True)
        ],
        "comparisons": [
            {
                "a": c.a,
                "b": c.b,
                "ks": c.plain.statistic,
                "p": c.plain.p_value,
                "ks_normalised": c.normalised.statistic if c.normalised else None,
                "p_normalised": c.normalised.p_value if c.normalised else None,
            }
            for c in analysis.comparisons
        ],
    }
