"""``python -m nas.analyze --study NAME --out DIR``: is *this kind* of multi-scale conv better than *that kind*?

Sub-spaces are predicates over a spec's features (``space.features``), written in the study
definition or given as ``--subspace NAME=PREDICATE``; the statistics (EDFs with bootstrap bands,
complexity-normalised EDFs, KS permutation tests) are ``nas.analysis.subspaces``'.  EDFs need
unbiased samples: run the study with ``nas.search --sampler random``.

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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import optuna

from nas.analysis.noise import pooled_sd, seed_results
from nas.analysis.paired import against_best
from nas.analysis.paired import lines as paired_lines
from nas.analysis.subspaces import analyse
from nas.cli import Parser, UsageError, bounded, not_a_file, output_folder, run_cli
from nas.files import write_atomically
from nas.output.analysis_page import write_analysis
from nas.study.experimental import experimental_ok
from nas.study.naming import definition_of
from nas.study.records import arch_records
from nas.study.storage import DEFAULT_STORAGE, open_existing_study
from space.features import FEATURE_DOCS, Predicate, compile_predicate, parse_subspaces
from studies import DEFAULT_ROPE


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
    p.add_argument(
        "--region",
        default=None,
        help="compare on the validation PSNR over one region class only (flat, edge, detail)",
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
    bounded("--bins", args.bins, 1, 100)
    bounded("--boot", args.boot, 10, 100_000)
    bounded("--perm", args.perm, 10, 1_000_000)
    bounded("--budget-x", args.budget_x, 1e-3, 1e6)
    not_a_file("--out", args.out)
    with experimental_ok():
        study = open_existing_study(args.storage, args.study)
        predicates = chosen_predicates(study, args)
        pairs = chosen_pairs(list(predicates), args.compare)
        own = set(predicates) - {name for name, _ in (s.partition("=")[::2] for s in args.subspace)}
        analysis = analyse(
            study, predicates, pairs, args.bins, args.perm, budget_x=args.budget_x, optional=own, region=args.region
        )
        folder = output_folder("--out", args.out)
        paired = write_paired(study, folder)  # every file before the figures go into the study, which may refuse them
        out = write_analysis(study, analysis, folder, args.boot, not args.no_dashboard)
        return "\n".join(out + paired)


def write_paired(study: optuna.Study, folder: Path) -> list[str]:
    """Each architecture against the best by paired per-image differences (seed noise pooled over repeats)."""
    sd = pooled_sd([list(runs.values()) for runs in seed_results(study).values()])
    diffs = against_best(arch_records(study), sd if np.isfinite(sd) else 0.0)
    if not diffs:
        return []
    write_atomically(folder / "paired.json", json.dumps([d.as_dict() for d in diffs], indent=1))
    definition = definition_of(study)
    return paired_lines(diffs, definition.rope if definition is not None else DEFAULT_ROPE)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.analyze", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
