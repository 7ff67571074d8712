"""``python -m nas.train``: full training of an architecture with the paper's recipe (Sec. 4.1).

Defaults: batch 16, 128x128 HR patches, Adam lr 2e-4 halved every 250k
iterations, 1M iterations, L1.  Checkpoints are written atomically; ``--resume``
continues a killed run and ends with the same weights as an uninterrupted one
(batches depend only on the seed and the iteration).

Example::

    python -m nas.train --arch ms3.json --data DIV2K/DIV2K_train_HR --out runs/ms3 \\
        --bench-data Set5 --bench-data Set14
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backbones import build_model
from nas.cli import Parser, UsageError
from nas.data import PatchSampler, training_pictures, validation_images
from nas.evaluate import EvalResult, evaluate_folder, evaluate_images, model_upscaler
from nas.images import ImageError
from nas.training import DivergenceError, Schedule, StepLog, make_optimizer, prepare_model, resolve_device, train_steps
from space import SpecError, load_spec
from space.arch import ArchSpec

CHECKPOINT = "checkpoint.pt"
PAPER_ITERS = 1_000_000
PAPER_HALVE_EVERY = 250_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.train", description="Train an architecture spec fully (paper recipe).")
    p.add_argument("--arch", required=True, help="architecture spec JSON (e.g. from nas.cost --dump-spec)")
    p.add_argument("--data", default=None, help="folder of HR training images (default: bundled photos)")
    p.add_argument("--lr-data", default=None, help="folder of pre-made LR images matching --data (e.g. DIV2K X4)")
    p.add_argument("--val-data", default=None, help="folder of HR validation images (default: bundled photos)")
    p.add_argument("--bench-data", action="append", default=[], help="benchmark folder to evaluate at the end")
    p.add_argument("--out", default="runs/train", help="output folder (checkpoints, log, final model)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--iters", type=int, default=PAPER_ITERS)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--hr-patch", type=int, default=128, help="HR patch side (LR = HR / scale)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--halve-every", type=int, default=PAPER_HALVE_EVERY)
    p.add_argument("--val-every", type=int, default=5000)
    p.add_argument("--ckpt-every", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--cache", default=None, help="sub-image cache folder (default ~/.cache/msnas)")
    p.add_argument("--no-subimages", action="store_true", help="crop from whole images, no 480x480 sub-images")
    return p.parse_args(argv)


@dataclass
class Run:
    """Everything a training run needs, assembled from the command line."""

    spec: ArchSpec
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: PatchSampler
    device: torch.device
    out: Path
    history: list[dict[str, Any]]
    start: int = 0


def setup(args: argparse.Namespace) -> Run:
    for name in ("iters", "batch", "hr_patch", "halve_every", "val_every", "ckpt_every"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')}: must be positive, got {getattr(args, name)}")
    spec = load_spec(args.arch)
    if args.hr_patch % spec.upscale:
        raise UsageError(f"--hr-patch: {args.hr_patch} is not a multiple of the upscale {spec.upscale}")
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = prepare_model(build_model(spec), device)
    schedule = Schedule("step", args.lr, 0, args.iters, step_every=args.halve_every)
    optimizer, scheduler = make_optimizer(model, schedule)
    whole = args.no_subimages or args.data is None or args.lr_data is not None
    cache = None if whole else (args.cache or default_cache())
    hr, lr = training_pictures(args.data, cache, args.lr_data, spec.upscale)
    sampler = PatchSampler(hr, spec.upscale, args.hr_patch // spec.upscale, args.batch, args.seed, lr_pictures=lr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(spec, model, optimizer, scheduler, sampler, device, out, [])
    if args.resume and (out / CHECKPOINT).exists():
        load_checkpoint(run)
    (out / "spec.json").write_text(spec.to_json())
    return run


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "msnas"


def save_checkpoint(run: Run, iteration: int) -> None:
    """Write the checkpoint beside the old one, then rename: a kill never leaves a torn file."""
    state = {
        "iteration": iteration,
        "spec": run.spec.to_dict(),
        "spec_hash": run.spec.spec_hash,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": run.history,
    }
    tmp = run.out / (CHECKPOINT + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, run.out / CHECKPOINT)


def load_checkpoint(run: Run) -> None:
    state = torch.load(run.out / CHECKPOINT, map_location=run.device, weights_only=True)
    if state["spec_hash"] != run.spec.spec_hash:
        raise UsageError(f"--resume: {run.out / CHECKPOINT} is for another architecture ({state['spec_hash']})")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.history = list(state["history"])
    run.start = int(state["iteration"])


def train(run: Run, args: argparse.Namespace) -> None:
    """Train to ``--iters`` in chunks, validating and checkpointing between chunks."""
    from tqdm import tqdm

    val = validation_images(args.val_data)
    log = StepLog()
    bar = tqdm(total=args.iters, initial=run.start, unit="it", dynamic_ncols=True, file=sys.stderr)
    last: dict[str, str] = {}

    def on_step(i: int, loss: torch.Tensor) -> None:
        bar.update(1)
        if i % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", **last)

    i = run.start
    try:
        while i < args.iters:
            stop = min(args.iters, next_boundary(i, args.val_every, args.ckpt_every))
            train_steps(run.model, run.optimizer, run.scheduler, run.sampler, i, stop, run.device, log, on_step)
            i = stop
            if i % args.val_every == 0 or i == args.iters:
                result = evaluate_images(val, run.spec.upscale, model_upscaler(run.model, run.device))
                last = {"psnr": f"{result.psnr:.2f}"}
                run.history.append(
                    {
                        "iteration": i,
                        "psnr": result.psnr,
                        "ssim": result.ssim,
                        "samples_per_second": log.samples / max(log.seconds, 1e-9),
                    }
                )
            save_checkpoint(run, i)
    except KeyboardInterrupt:
        save_checkpoint(run, i)
        bar.close()
        raise
    bar.close()


def next_boundary(i: int, *everies: int) -> int:
    """The next iteration after ``i`` at which any periodic action is due."""
    return min((i // e + 1) * e for e in everies)


def finish(run: Run, bench: list[str]) -> dict[str, Any]:
    """Save the final model and evaluate it on each benchmark folder."""
    torch.save({"spec": run.spec.to_dict(), "model": run.model.state_dict()}, run.out / "model.pt")
    results: dict[str, Any] = {}
    for folder in bench:
        result: EvalResult = evaluate_folder(folder, run.spec.upscale, model_upscaler(run.model, run.device))
        results[Path(folder).name] = result.as_dict()
        print(f"{Path(folder).name:<12} PSNR {result.psnr:.2f} dB  SSIM {result.ssim:.4f}  ({result.n_images} images)")
    summary = {"spec_hash": run.spec.spec_hash, "history": run.history, "benchmarks": results}
    (run.out / "final.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        run = setup(args)
        print(
            f"training {run.spec.spec_hash} on {run.device} from iteration {run.start} to {args.iters};"
            f" output in {run.out}",
            file=sys.stderr,
        )
        train(run, args)
        finish(run, args.bench_data)
    except (UsageError, SpecError, ImageError, ValueError) as err:
        print(f"nas.train: error: {err}", file=sys.stderr)
        return 2
    except DivergenceError as err:
        print(f"nas.train: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nas.train: interrupted; checkpoint saved, continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
