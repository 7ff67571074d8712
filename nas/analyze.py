"""``python -m nas.analyze --study NAME --out DIR``: is *this kind* of multi-scale conv better than *that kind*?

Design-space statistics in the manner of Radosavovic et al. (pycls): a sub-space
is a predicate over a spec's features (``space.features``), written in the study
definition or given as ``--subspace NAME=PREDICATE``.  For each sub-space the
empirical distribution function (EDF) of the proxy error — dB below the best
architecture of the study — with a bootstrap band, and the complexity-normalised
EDF (models reweighted so that every compared sub-space has the same distribution
of MACs over shared log-MAC bins).  Pairs of sub-spaces are compared by the
two-sample KS distance with a permutation p-value (within MAC bins when normalised).

EDFs need unbiased samples: run the study with ``nas.search --sampler random``.
Each distinct architecture counts once; where it has seed repeats at the proxy budget
(``nas.fidelity --budget-x 1``), its PSNR is their mean.

Examples::

    python -m nas.analyze --study ms3-random --storage sqlite:///runs/analysis.db --out runs/analysis
    python -m nas.analyze --study ms3-random --subspace k1="cross_kernel == 1" --subspace k3="cross_kernel == 3" \\
        --out runs/kernels
    python -m nas.analyze --features          # the feature names predicates may use
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go

from nas.cli import Parser, UsageError, run_cli
from nas.noisefront import fidelity_records, seed_results
from nas.records import ArchRecord, arch_records, open_existing_study
from nas.report import Report, save_to_dashboard, write_html
from nas.search import DEFAULT_STORAGE, definition_of
from nas.stats import (
    Normalised,
    TestResult,
    bootstrap_band,
    complexity_weights,
    edf,
    permutation_test,
)
from space.features import FEATURE_DOCS, Predicate, compile_predicate, features, parse_subspaces

GRID_POINTS = 200
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


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
class Analysis:
    study: str
    sampler: str
    best_psnr: float
    subspaces: tuple[SubSpace, ...]
    normalised: Normalised | None
    comparisons: tuple[Comparison, ...]
    grid: np.ndarray
    seed_means: int = 0  # architectures whose PSNR is a mean over seeds
    budget_x: float = 1.0  # 1: the proxy; else nas.fidelity's re-trainings at this multiple


def split_records(
    records: Sequence[ArchRecord],
    predicates: dict[str, Predicate],
    best_psnr: float,
    psnr: Mapping[str, float] | None = None,
) -> list[SubSpace]:
    """Each sub-space's members; an empty one is an error (a predicate that selects nothing is a typo).

    ``psnr`` maps spec_hash -> the PSNR to use (a seed mean); the trial's own value otherwise.
    """
    feats = [features(r.spec) for r in records]
    value = psnr or {}
    out = []
    for name, predicate in predicates.items():
        members = tuple(r for r, f in zip(records, feats, strict=True) if predicate(f))
        if not members:
            raise UsageError(f"sub-space {name} ({predicate.text}) selects none of the {len(records)} architectures")
        error = np.array([best_psnr - value.get(r.spec_hash, r.psnr) for r in members])
        out.append(SubSpace(name, predicate, members, error, np.array([r.macs for r in members])))
    return out


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
) -> Analysis:
    """The whole analysis of one study, pure apart from reading it.

    ``budget_x`` other than 1 analyses the re-trainings ``nas.fidelity`` recorded at that multiple
    of the proxy budget (mean over seeds), over the architectures that have them.
    """
    records = arch_records(study)
    means = psnr_means(study, budget_x)
    if budget_x != 1:
        records = [r for r in records if r.spec_hash in means]
    if len(records) < 2:
        raise UsageError(
            f"--study: {study.study_name!r} has {len(records)} finished architectures"
            f"{f' re-trained at {budget_x:g}x (run nas.fidelity)' if budget_x != 1 else ''}; need 2 or more"
        )
    best = max(means.get(r.spec_hash, r.psnr) for r in records)
    subspaces = split_records(records, predicates, best, means)
    by_name = {s.name: s for s in subspaces}
    rng = np.random.default_rng(seed)
    comparisons = tuple(compare(by_name[a], by_name[b], bins, n_perm, rng) for a, b in pairs)
    top = max(float(s.error.max()) for s in subspaces)
    grid = np.linspace(0.0, top * 1.02 + 1e-9, GRID_POINTS)
    sampler = str(study.user_attrs.get("sampler", "unknown"))
    return Analysis(
        study.study_name,
        sampler,
        best,
        tuple(subspaces),
        normalise(subspaces, bins),
        comparisons,
        grid,
        len(means),
        budget_x,
    )


def psnr_means(study: optuna.Study, budget_x: float) -> dict[str, float]:
    """spec_hash -> mean PSNR over seeds: 1x repeats (2 or more seeds), or the re-trainings at ``budget_x``."""
    if budget_x == 1:
        repeated = {h: runs for h, runs in seed_results(study).items() if len(runs) > 1}
        return {h: float(np.mean(list(runs.values()))) for h, runs in repeated.items()}
    runs: dict[str, list[float]] = {}
    for t in fidelity_records(study):
        if t.user_attrs.get("budget_x") == budget_x:
            runs.setdefault(str(t.user_attrs["spec_hash"]), []).append(float(t.user_attrs["psnr"]))
    return {h: float(np.mean(v)) for h, v in runs.items()}


# ---- text ----


def summary(analysis: Analysis) -> list[str]:
    lines = [
        f"{analysis.study}: {len(analysis.subspaces)} sub-spaces; error = dB below the best ({analysis.best_psnr:.3f})"
    ]
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


def as_dict(analysis: Analysis) -> dict[str, Any]:
    weights = analysis.normalised.weights if analysis.normalised else [None] * len(analysis.subspaces)
    return {
        "study": analysis.study,
        "sampler": analysis.sampler,
        "best_psnr": analysis.best_psnr,
        "seed_means": analysis.seed_means,
        "budget_x": analysis.budget_x,
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


# ---- figures ----


def error_name(analysis: Analysis) -> str:
    return "proxy error" if analysis.budget_x == 1 else f"error at {analysis.budget_x:g}x the proxy budget"


def edf_figure(analysis: Analysis, normalised: bool, n_boot: int, seed: int = 0) -> go.Figure:
    """EDFs with 95 % bootstrap bands, one colour per sub-space."""
    rng = np.random.default_rng(seed)
    fig = go.Figure()
    weights = analysis.normalised.weights if (normalised and analysis.normalised) else None
    for i, s in enumerate(analysis.subspaces):
        w = weights[i] if weights is not None else np.ones(s.n) / s.n
        keep = w > 0
        if not keep.any():
            continue
        colour = COLOURS[i % len(COLOURS)]
        low, high = bootstrap_band(s.error[keep], analysis.grid, w[keep], n_boot=n_boot, rng=rng)
        x = np.concatenate([analysis.grid, analysis.grid[::-1]])
        fig.add_trace(
            go.Scatter(x=x, y=np.concatenate([high, low[::-1]]), fill="toself", line={"width": 0},
                       fillcolor=colour, opacity=0.15, hoverinfo="skip", showlegend=False)
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=analysis.grid,
                y=edf(s.error[keep], analysis.grid, w[keep]),
                mode="lines",
                line={"shape": "hv", "color": colour},
                name=f"{s.name} (n={int(keep.sum())})",
            )
        )
    kind = "complexity-normalised EDF" if normalised else "EDF"
    fig.update_layout(
        title=f"{analysis.study}: {kind} of {error_name(analysis)}, 95 % bootstrap bands",
        xaxis_title=f"error: dB below the best architecture ({analysis.best_psnr:.3f} dB)",
        yaxis_title="fraction of architectures with error <= x",
        yaxis_range=[0, 1.02],
    )
    return fig


def error_figure(analysis: Analysis) -> go.Figure:
    fig = go.Figure()
    for i, s in enumerate(analysis.subspaces):
        fig.add_trace(
            go.Scatter(x=s.macs / 1e9, y=s.error, mode="markers", name=s.name,
                       marker={"color": COLOURS[i % len(COLOURS)], "size": 9},
                       text=[r.name for r in s.members])
        )  # fmt: skip
    fig.update_layout(
        title=f"{analysis.study}: {error_name(analysis)} vs MACs by sub-space",
        xaxis_title="G MACs (full network, 128x128 LR)",
        xaxis_type="log",
        yaxis_title="error (dB below the best)",
    )
    return fig


# ---- command line ----


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.analyze", description="EDFs of sub-spaces of a study's design space.")
    p.add_argument("--study", default=None, help="the study name in the storage")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    p.add_argument("--out", default=None, help="folder for analysis.html (the figures), analysis.json, summary.txt")
    p.add_argument("--subspace", action="append", default=[], help="NAME=PREDICATE (repeatable; adds or replaces)")
    p.add_argument("--only", default=None, help="comma-separated sub-space names to analyse (default: all)")
    p.add_argument("--compare", action="append", default=[], help="A:B pairs to test (default: every pair)")
    p.add_argument("--bins", type=int, default=4, help="log-MAC bins for the normalisation (default 4)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for the bands (default 1000)")
    p.add_argument("--perm", type=int, default=2000, help="permutations for each test (default 2000)")
    p.add_argument(
        "--budget-x",
        type=float,
        default=1.0,
        help="analyse nas.fidelity's re-trainings at this multiple of the proxy budget (default 1: the proxy)",
    )
    p.add_argument("--no-dashboard", action="store_true", help="do not save the figures into the study")
    p.add_argument("--features", action="store_true", help="list the features predicates may use")
    return p.parse_args(argv)


def chosen_predicates(study: optuna.Study, args: argparse.Namespace) -> dict[str, Predicate]:
    """The study definition's sub-spaces, then the command line's (which replace equal names)."""
    definition = definition_of(study)
    predicates = {n: compile_predicate(t) for n, t in (definition.subspaces if definition else {}).items()}
    predicates.update(parse_subspaces(args.subspace))
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in predicates]
        if unknown:
            raise UsageError(f"--only: unknown sub-space(s) {', '.join(unknown)} (known: {', '.join(predicates)})")
        predicates = {n: predicates[n] for n in names}
    if not predicates:
        raise UsageError("no sub-spaces: give --subspace NAME=PREDICATE (see --features), e.g. ms3='shared and has_hl'")
    return predicates


def chosen_pairs(names: Sequence[str], compare_args: Sequence[str]) -> list[tuple[str, str]]:
    if not compare_args:
        return list(itertools.combinations(names, 2))
    pairs = []
    for item in compare_args:
        a, sep, b = item.partition(":")
        if not sep or a not in names or b not in names or a == b:
            raise UsageError(f"--compare: {item!r} must be A:B with two different sub-spaces of {', '.join(names)}")
        pairs.append((a, b))
    return pairs


def run(args: argparse.Namespace) -> str:
    if args.features:
        return "\n".join(f"{name:<13} {doc}" for name, doc in FEATURE_DOCS.items())
    if args.study is None or args.out is None:
        raise UsageError("--study and --out are required (or --features)")
    if args.bins < 1 or args.boot < 10 or args.perm < 10:
        raise UsageError("--bins must be >= 1, --boot and --perm >= 10")
    if args.budget_x <= 0:
        raise UsageError(f"--budget-x: must be positive, got {args.budget_x}")
    study = open_existing_study(args.storage, args.study)
    predicates = chosen_predicates(study, args)
    pairs = chosen_pairs(list(predicates), args.compare)
    analysis = analyse(study, predicates, pairs, args.bins, args.perm, budget_x=args.budget_x)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.budget_x == 1 else f"-x{args.budget_x:g}"  # a longer budget's figures sit beside the proxy's
    figures = {
        f"analyze-edf{suffix}": edf_figure(analysis, False, args.boot),
        f"analyze-edf-normalised{suffix}": edf_figure(analysis, True, args.boot),
        f"analyze-error-vs-macs{suffix}": error_figure(analysis),
    }
    lines = summary(analysis)
    report = Report(f"{analysis.study}: design-space EDFs", lines, figures)
    write_html(out / "analysis.html", report)
    if not args.no_dashboard:
        save_to_dashboard(study, report)
    (out / "analysis.json").write_text(json.dumps(as_dict(analysis), indent=1))
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    lines.append(f"wrote analysis.html, analysis.json and summary.txt in {out}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.analyze", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
