"""``python -m nas.train``: full training of an architecture with the paper's recipe (Sec. 4.1).

Defaults: batch 16, 128x128 HR patches, Adam lr 2e-4 halved every 250k
iterations, 1M iterations, L1.  Checkpoints are written atomically; ``--resume``
continues a killed run and ends with the same weights as an uninterrupted one
(batches depend only on the seed and the iteration).

Under ``torchrun`` (one process per GPU, or gloo ranks on the CPU) the global ``--batch`` is split over
the ranks and rank 0 alone logs, validates, checkpoints and evaluates; batches stay a function of the seed
and the iteration, so a run resumes under any number of ranks that divides the batch.

``OUT/train.log`` is the run's progress in plain text, one timestamped line each: the start (and each resume:
the log is appended to), the recipe, every validation, the benchmarks, and how the run ended.  ``final.json``
records the recipe and the evaluation protocol (``nas.training.recipe``).

Examples::

    python -m nas.train --arch ms3.json --data DIV2K/DIV2K_train_HR --out runs/ms3 \\
        --bench-data Set5 --bench-data Set14 --workers 6
    torchrun --standalone --nproc_per_node 8 -m nas.train --arch ms3.json --data DIV2K/DIV2K_train_HR --out runs/ms3
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from nas.allocator import keep_freed_memory
from nas.cli import Parser, UsageError, defaults_of
from nas.errors import InputError, MsnasError, one_line
from nas.stops import Stopped
from nas.training.checkpoint import Run
from nas.training.distributed import leave
from nas.training.full import benchmark_line, finish, logger, setup, start_line, train
from nas.training.loop import DivergenceError
from nas.training.recipe import TrainConfig
from space import SpecError

LOG = "train.log"
DEFAULTS = defaults_of(TrainConfig)  # the flags' defaults are the configuration's
LOG_FORMAT = "%(asctime)s %(message)s"
LOG_TIME = "%Y-%m-%dT%H:%M:%SZ"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.train", description="Train an architecture spec fully (paper recipe).")
    p.add_argument("--arch", required=True, help="architecture spec JSON (e.g. from nas.cost --dump-spec)")
    p.add_argument(
        "--data", action="append", default=[], help="folder of HR training images; repeatable (default: bundled photos)"
    )
    p.add_argument(
        "--lr-data",
        action="append",
        default=[],
        help="folder of pre-made LR images matching a single --data (e.g. DIV2K X4); at most one",
    )
    p.add_argument(
        "--val-data",
        action="append",
        default=[],
        help="folder of HR validation images; repeatable, names unique across folders (default: bundled photos)",
    )
    p.add_argument("--bench-data", action="append", default=[], help="benchmark folder to evaluate at the end")
    p.add_argument(
        "--out", default=DEFAULTS["out"], help=f"output folder (checkpoints, the log {LOG}, final model and final.json)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt, with the run's own flags (--iters may grow, --device change)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run's files in OUT")
    p.add_argument("--iters", type=int, default=DEFAULTS["iters"])
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"], help="global batch, split over torchrun's ranks")
    p.add_argument("--hr-patch", type=int, default=DEFAULTS["hr_patch"], help="HR patch side (LR = HR / scale)")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--halve-every", type=int, default=DEFAULTS["halve_every"])
    p.add_argument("--val-every", type=int, default=DEFAULTS["val_every"])
    p.add_argument("--ckpt-every", type=int, default=DEFAULTS["ckpt_every"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--device", default=DEFAULTS["device"], help="auto, cpu or cuda")
    p.add_argument("--cache", default=DEFAULTS["cache"], help="sub-image cache folder (default ~/.cache/msnas)")
    p.add_argument("--no-subimages", action="store_true", help="crop from whole images, no 480x480 sub-images")
    p.add_argument(
        "--workers",
        type=int,
        default=DEFAULTS["workers"],
        help=f"data-loader processes per rank (default {DEFAULTS['workers']}: none)",
    )
    return p.parse_args(argv)


def config_of(args: argparse.Namespace) -> TrainConfig:
    """The command line as a run's plain-data configuration."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    folders = {name: tuple(getattr(args, name)) for name in ("data", "val_data", "bench_data")}
    if len(args.lr_data) > 1:  # kept as a list so that a second one is refused, never silently the only one
        raise UsageError(f"--lr-data: one folder (the LR images of the one --data), got {len(args.lr_data)}")
    return TrainConfig(**{**values, **folders, "lr_data": args.lr_data[0] if args.lr_data else None})


def open_log(path: Path, append: bool) -> int:
    """The log's file descriptor, appended to on resume and made anew otherwise; a link at its name is replaced
    by a new run and refused by a resume (never written through)."""
    if not append and path.is_symlink():
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as err:
        raise InputError(
            f"--out: cannot write the log {path} ({err.strerror or err}; a link is never followed)"
        ) from None


@contextmanager
def progress_log(run: Run, append: bool) -> Iterator[None]:
    """The run's progress lines (``nas.training.full``'s logger) into OUT/train.log, and only there, while the block
    runs (rank 0), with how the run ended when it did not finish."""
    if not run.ranks.main:
        yield
        return
    file = os.fdopen(open_log(run.out / LOG, append), "a", encoding="utf-8")
    handler = logging.StreamHandler(file)
    formatter = logging.Formatter(LOG_FORMAT, LOG_TIME)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    except KeyboardInterrupt as err:
        logger.info(f"{stop_of(err).reason}; checkpoint saved, continue with --resume")
        raise
    except Exception as err:  # a diverged loss, a benchmark image that cannot be read, ...
        logger.info(f"stopped: {one_line(err)}")
        raise
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        file.close()


def run_training(args: TrainConfig) -> None:
    """Set up, train and finish, logging to OUT/train.log; rank 0 prints where it starts and the benchmarks."""
    run = setup(args)
    with progress_log(run, args.resume):
        if run.ranks.main:
            print(start_line(run, args.iters), file=sys.stderr)
        train(run, args)
        finish(run, args.bench_data, lambda name, result: print(benchmark_line(name, result)))


def stop_of(err: KeyboardInterrupt) -> Stopped:
    """The stop that ended the run (its signal's reason and exit code); Ctrl-C where none was handled."""
    return err if isinstance(err, Stopped) else Stopped()


def main(argv: Sequence[str] | None = None) -> int:
    keep_freed_memory()
    main_rank = os.environ.get("RANK", "0") == "0"  # every rank checks the same input: rank 0 says what is wrong
    try:
        run_training(config_of(parse_args(argv)))
    except (MsnasError, SpecError, ValueError) as err:
        if main_rank:
            print(f"nas.train: error: {err}", file=sys.stderr)
        return 2
    except DivergenceError as err:
        print(f"nas.train: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        if main_rank:
            print(f"nas.train: {stop_of(err).reason}; checkpoint saved, continue with --resume", file=sys.stderr)
        return stop_of(err).exit_code
    finally:
        leave()
    return 0


if __name__ == "__main__":
    sys.exit(main())
