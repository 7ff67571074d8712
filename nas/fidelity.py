"""``python -m nas.fidelity --study NAME``: can the short proxy's ranking be trusted?

Re-trains K architectures of a finished study (its named variants, then its front,
then a random sample of the rest) at X times the proxy budget each trial used,
with S seeds on the same data, and reports how well the proxy ranks them (Kendall
tau, Spearman rho, bootstrap intervals) next to the naive predictors params and
MACs.  Seed ``s`` gives every architecture the same batches in the same order
(common random numbers), so architectures are compared by paired differences.

Finished Optuna trials cannot take new attributes, so each re-training is a trial
of a companion study ``NAME.fidelity`` in the same storage (its user attributes
name the source trial, the seed and the budget); optuna-dashboard shows both.  A
killed run resumes where it stopped: work already recorded is not trained again.

Examples::

    python -m nas.fidelity --study ms3-random --storage sqlite:///runs/analysis.db --k 8 --budget-x 2 --seeds 2
    python -m nas.fidelity --study ms3-random --budget-x 1 --seeds 3    # seed repeats at the proxy budget
    python -m nas.fidelity --study ms3 --k 15 --budget-x 10 --seeds 1 --first standard,ms3   # these two first
    python -m nas.fidelity --study ms3 --k 7 --budget-x 10 --seeds 1 --seed-start 1   # a second seed, later
    python -m nas.fidelity --study ms3 --shard 0/2 & python -m nas.fidelity --study ms3 --shard 1/2   # two workers
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from nas.analysis.fidelity import DELTAS
from nas.cli import Parser, UsageError, bounded, not_a_file, run_cli
from nas.output.fidelity_page import write_outputs
from nas.search.retrain import RetrainConfig, retrain
from nas.study.experimental import experimental_ok
from nas.study.storage import DEFAULT_STORAGE


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.fidelity", description="Re-train a study's architectures longer; rank agreement.")
    p.add_argument("--study", required=True, help="the study name in the storage")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    p.add_argument("--k", type=int, default=10, help="architectures to re-train (default 10)")
    p.add_argument("--budget-x", type=float, default=3.0, help="times the proxy budget (default 3)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per architecture, from --seed-start on (default 2)")
    p.add_argument(
        "--seed-start", type=int, default=0, help="first seed: seeds START..START+S-1 (default 0), to add seeds later"
    )
    p.add_argument("--sample-seed", type=int, default=0, help="which random architectures fill up to K")
    p.add_argument("--shard", default="0/1", help="I/N: this worker's share of the work (default 0/1)")
    p.add_argument(
        "--first",
        default="",
        help="comma-separated names or spec-hash prefixes to train before the others (the same work, reordered)",
    )
    p.add_argument("--report-only", action="store_true", help="train nothing; report what is recorded")
    p.add_argument("--out", default=None, help="folder for fidelity.json and fidelity.html")
    p.add_argument(
        "--deltas",
        default=",".join(map(str, DELTAS)),
        help=f"PSNR differences (dB) to give seed counts for (default {','.join(map(str, DELTAS))})",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--data",
        action="append",
        default=[],
        help="HR training folder; repeatable: the union (default: bundled photos, as the search)",
    )
    p.add_argument(
        "--val-data",
        action="append",
        default=[],
        help="HR validation folder; repeatable, image names unique across folders (default: bundled photos)",
    )
    args = p.parse_args(argv)
    if args.k < 3:
        raise UsageError(f"--k: at least 3 architectures are needed for a rank correlation, got {args.k}")
    bounded("--budget-x", args.budget_x, 1e-3, MAX_BUDGET_X)
    bounded("--seeds", args.seeds, 1, 100)
    bounded("--k", args.k, 3, 10_000)
    bounded("--seed-start", args.seed_start, 0, 10_000)
    try:
        args.deltas = tuple(float(x) for x in args.deltas.split(","))
    except ValueError:
        raise UsageError(f"--deltas: {args.deltas!r} is not a comma-separated list of numbers") from None
    if not args.deltas or min(args.deltas) <= 0:
        raise UsageError("--deltas: differences must be positive")
    args.shard = shard_of(args.shard)
    if args.out is not None:
        not_a_file("--out", args.out)  # before hours of training, not after
    args.first = tuple(x for x in args.first.split(",") if x)
    args.data, args.val_data = tuple(args.data), tuple(args.val_data)
    return args


MAX_BUDGET_X = 1000.0  # 1000 x the CPU proxy is about a day of training per run


def shard_of(text: str) -> tuple[int, int]:
    """``I/N`` -> (I, N): this worker does the work items whose index is I modulo N."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard: {text!r} is not I/N (e.g. 0/2)") from None
    if not 0 <= i < n:
        raise UsageError(f"--shard: {text!r} needs 0 <= I < N")
    return i, n


def config_of(args: argparse.Namespace) -> RetrainConfig:
    """The command line as a fidelity run's plain-data configuration."""
    return RetrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RetrainConfig)})


def run(args: argparse.Namespace) -> str:
    with experimental_ok():
        lines, stats = retrain(config_of(args))
    if stats is not None and args.out:
        lines.append(write_outputs(Path(args.out), stats, args.study))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    recorded = "what was recorded stays; run the same command again to go on"
    return run_cli("nas.fidelity", lambda: run(parse_args(argv)), interrupted=recorded)


if __name__ == "__main__":
    sys.exit(main())
