"""``python -m nas.verdict --study NAME``: which architectures are better, practically equivalent, or open.

Races the study's candidates (its named variants by default) through a ladder of budgets: trains only what
decides an open pair that matters to the front, drops a candidate once another that costs no more is better
beyond the ROPE (or cheaper, and not worse by more than the ROPE), and stops when every such pair is decided,
when more seeds cannot decide the rest, or at ``--max-trainings``.  Runs are the companion study's
(``NAME.fidelity``, shared with ``nas.fidelity``): the same command resumes, and several workers (``&``, or
machines on one PostgreSQL storage) share the work through claims.  Writes ``verdict.json`` (schema: docs/verdicts.md).

Examples::

    python -m nas.verdict --study ms3 --data T91 --data BSD200 --val-data Set5 --val-data Set14 --budgets 10
    python -m nas.verdict --study ms3 --candidates standard,ms3,ms --rope 0.05 --max-trainings 20
    python -m nas.verdict --study ms3 --report-only --out runs/verdict     # decide from what is recorded
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from nas.analysis.race_report import race_report, report_data, report_lines
from nas.analysis.verdict import DEFAULT_ALPHA
from nas.cli import Parser, UsageError, bounded, output_folder, quiet, quiet_optuna, run_cli
from nas.output.page import save_to_dashboard, write_atomically, write_html
from nas.output.verdict_page import verdict_report
from nas.search.race import RaceConfig, race
from nas.study import keys
from nas.study.experimental import experimental_ok
from nas.study.storage import DEFAULT_STORAGE, open_existing_study, public_url
from studies import DEFAULT_ROPE


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.verdict", description="Race architectures to a decision within a margin.")
    p.add_argument("--study", required=True, help="the study (a built-in is made in the storage when missing)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    p.add_argument("--candidates", default="named",
                   help="comma-separated: named, front, all, names or spec-hash prefixes (default named)")  # fmt: skip
    rope_help = f"region of practical equivalence, dB (default: the study's; built-in studies {DEFAULT_ROPE})"
    p.add_argument("--rope", type=float, default=None, help=rope_help)
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                   help=f"error rate per decision, spent over a pair's looks (default {DEFAULT_ALPHA})")  # fmt: skip
    p.add_argument(
        "--images",
        choices=("random", "fixed"),
        default="random",
        help="random: the validation images are a sample (default); fixed: decide for these images only",
    )
    p.add_argument(
        "--budgets", default="1,3,10", help="times the proxy, ascending; the last is the target (default 1,3,10)"
    )
    p.add_argument("--min-seeds", type=int, default=1, help="seeds every candidate gets at a budget (default 1)")
    p.add_argument("--max-seeds", type=int, default=8, help="seeds a candidate may get at a budget (default 8)")
    p.add_argument("--max-trainings", type=int, default=None,
                   help="stop once the candidates have this many recorded runs, every budget counted")  # fmt: skip
    p.add_argument("--pairs", default="", help="A:B,... pairs to decide whatever their costs (e.g. ms2:ms2-no-lh)")
    p.add_argument(
        "--data", action="append", default=[], help="HR training folder; repeatable (default: bundled photos)"
    )
    p.add_argument(
        "--val-data", action="append", default=[], help="HR validation folder; repeatable (default: bundled)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--report-only", action="store_true", help="train nothing; decide from what is recorded")
    p.add_argument(
        "--nested",
        action="store_true",
        help="WSD budgets: each target run's stable phase branches into the shorter budgets' decays (BENCHMARKS.md)",
    )
    p.add_argument("--out", default=None, help="folder for verdict.json and verdict.html")
    p.add_argument("--no-dashboard", action="store_true", help="do not save the figures into the study")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    args.budgets = budgets_of(args.budgets)
    if args.rope is not None:
        bounded("--rope", args.rope, 1e-6, 100.0)
    bounded("--alpha", args.alpha, 1e-6, 0.49)
    bounded("--min-seeds", args.min_seeds, 1, 1000)
    bounded("--max-seeds", args.max_seeds, args.min_seeds, 1000)
    if args.max_trainings is not None:
        bounded("--max-trainings", args.max_trainings, 1, 10**6)
    args.candidates = tuple(x for x in args.candidates.split(",") if x)
    args.pairs = pairs_of(args.pairs)
    args.data, args.val_data = tuple(args.data), tuple(args.val_data)
    if args.out is not None:
        args.out = output_folder("--out", args.out)
    return args


def budgets_of(text: str) -> tuple[float, ...]:
    try:
        budgets = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"--budgets: {text!r} is not a comma-separated list of numbers") from None
    if list(budgets) != sorted(set(budgets)) or budgets[0] <= 0:
        raise UsageError(f"--budgets: {text!r} must be positive and ascending")
    for b in budgets:
        bounded("--budgets", b, 1e-3, 1000.0)
    return budgets


def pairs_of(text: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in (x for x in text.split(",") if x):
        a, sep, b = item.partition(":")
        if not sep or not a or not b or a == b:
            raise UsageError(f"--pairs: {item!r} is not A:B with two different architectures")
        out.append((a, b))
    return tuple(out)


def config_of(args: argparse.Namespace) -> RaceConfig:
    fields = RaceConfig.__dataclass_fields__
    return RaceConfig(**{name: getattr(args, name) for name in fields if hasattr(args, name)})


def write_json(path: Path, data: Mapping[str, object]) -> Path:
    write_atomically(path, json.dumps(data, indent=1, allow_nan=False))
    return path


def run(args: argparse.Namespace) -> str:
    config = config_of(args)
    quiet_optuna()
    if args.report_only:  # nothing to decide from: an error, never a new empty storage that decides nothing
        open_existing_study(config.storage, args.study)
    with experimental_ok():
        r, state, runs = race(config)
    report = race_report([e.candidate for e in r.entrants], runs, r.policy(), state,
                         r.agreements(runs), r.trained)  # fmt: skip
    lines = report_lines(report, f"verdict on {r.study.study_name} in {public_url(config.storage)}")
    if unread := r.unread_runs():
        lines.insert(1, f"not read: {unread} recorded run(s) at seed {config.max_seeds} or above; alpha is spent over "
                     f"--max-seeds looks, so raise --max-seeds to decide from them")  # fmt: skip
    data = report_data(report, {"study": r.study.study_name, "data": r.data})
    r.study.set_user_attr(keys.VERDICT, data)  # nas.report's section
    page = verdict_report(data, lines)
    if not args.no_dashboard:
        save_to_dashboard(r.study, page)
    if args.out is not None:
        lines.append(f"wrote {write_json(args.out / 'verdict.json', data)} and {args.out / 'verdict.html'}")
        write_html(args.out / "verdict.html", page)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    def go() -> str:
        args = parse_args(argv)
        if args.quiet:
            quiet()
        return run(args)

    return run_cli("nas.verdict", go, interrupted="what was recorded stays; run the same command again to go on")


if __name__ == "__main__":
    sys.exit(main())
