"""``python -m nas.train``: full training of an architecture with the paper's recipe (Sec. 4.1).

Defaults: batch 16, 128x128 HR patches, Adam lr 2e-4 halved every 250k
iterations, 1M iterations, L1.  Checkpoints are written atomically; ``--resume``
continues a killed run and ends with the same weights as an uninterrupted one
(batches depend only on the seed and the iteration).

Under ``torchrun`` (one process per GPU, or gloo ranks on the CPU) the global ``--batch`` is split over
the ranks and rank 0 alone logs, validates, checkpoints and evaluates; batches stay a function of the seed
and the iteration, so a run resumes under any number of ranks that divides the batch.

Examples::

    python -m nas.train --arch ms3.json --data DIV2K/DIV2K_train_HR --out runs/ms3 \\
        --bench-data Set5 --bench-data Set14 --workers 6
    torchrun --standalone --nproc_per_node 8 -m nas.train --arch ms3.json --data DIV2K/DIV2K_train_HR --out runs/ms3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence

from nas.allocator import keep_freed_memory
from nas.cli import Parser
from nas.errors import MsnasError
from nas.training.distributed import leave
from nas.training.full import PAPER_HALVE_EVERY, PAPER_ITERS, TrainConfig, finish, setup, train
from nas.training.loop import DivergenceError
from space import SpecError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.train", description="Train an architecture spec fully (paper recipe).")
    p.add_argument("--arch", required=True, help="architecture spec JSON (e.g. from nas.cost --dump-spec)")
    p.add_argument(
        "--data", action="append", default=[], help="folder of HR training images; repeatable (default: bundled photos)"
    )
    p.add_argument(
        "--lr-data", default=None, help="folder of pre-made LR images matching a single --data (e.g. DIV2K X4)"
    )
    p.add_argument(
        "--val-data",
        action="append",
        default=[],
        help="folder of HR validation images; repeatable, names unique across folders (default: bundled photos)",
    )
    p.add_argument("--bench-data", action="append", default=[], help="benchmark folder to evaluate at the end")
    p.add_argument("--out", default="runs/train", help="output folder (checkpoints, log, final model)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run's files in OUT")
    p.add_argument("--iters", type=int, default=PAPER_ITERS)
    p.add_argument("--batch", type=int, default=16, help="global batch, split over torchrun's ranks")
    p.add_argument("--hr-patch", type=int, default=128, help="HR patch side (LR = HR / scale)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--halve-every", type=int, default=PAPER_HALVE_EVERY)
    p.add_argument("--val-every", type=int, default=5000)
    p.add_argument("--ckpt-every", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--cache", default=None, help="sub-image cache folder (default ~/.cache/msnas)")
    p.add_argument("--no-subimages", action="store_true", help="crop from whole images, no 480x480 sub-images")
    p.add_argument("--workers", type=int, default=0, help="data-loader processes per rank (default 0: none)")
    return p.parse_args(argv)


def config_of(args: argparse.Namespace) -> TrainConfig:
    """The command line as a run's plain-data configuration."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    folders = {name: tuple(getattr(args, name)) for name in ("data", "val_data", "bench_data")}
    return TrainConfig(**{**values, **folders})


def main(argv: Sequence[str] | None = None) -> int:
    keep_freed_memory()
    main_rank = os.environ.get("RANK", "0") == "0"  # every rank checks the same input: rank 0 says what is wrong
    try:
        args = config_of(parse_args(argv))
        run = setup(args)
        if run.ranks.main:
            ranks = f" ({run.ranks.world_size} ranks of {run.sampler.per_rank})" if run.ranks.world_size > 1 else ""
            print(
                f"training {run.spec.spec_hash} on {run.device}{ranks} from iteration {run.start} to {args.iters};"
                f" output in {run.out}",
                file=sys.stderr,
            )
        train(run, args)
        finish(run, args.bench_data)
    except (MsnasError, SpecError, ValueError) as err:
        if main_rank:
            print(f"nas.train: error: {err}", file=sys.stderr)
        return 2
    except DivergenceError as err:
        print(f"nas.train: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if main_rank:
            print("nas.train: interrupted; checkpoint saved, continue with --resume", file=sys.stderr)
        return 130
    finally:
        leave()
    return 0


if __name__ == "__main__":
    sys.exit(main())
