"""Full training with the paper's recipe (Sec. 4.1): resumable, validated, benchmarked at the end.

Checkpoints are written atomically; a resumed run ends with the same weights as an uninterrupted
one (batches depend only on the seed and the iteration).  Under ``torchrun`` the global batch is split
over the ranks (``nas.training.distributed``); rank 0 alone logs, validates, checkpoints and evaluates,
and a checkpoint resumes under any number of ranks that divides the batch.  SIGINT or SIGTERM stops a run
after the step in progress, with a checkpoint of that step.  ``python -m nas.train`` is the command line.

``final.json`` records how the network was made (``recipe``: data, iterations, batch, patches, optimizer,
schedule, seed, scale) and how it was measured (``protocol``: ``nas.sr.evaluation``'s, with the validation and
benchmark sets); a checkpoint keeps the recipe, and a resume with another one is refused.  Progress lines go to
this module's logger (``nas.train`` writes them to ``OUT/train.log``).  The configuration and what a run records
of it are ``nas.training.recipe``; the run's state and its checkpoint, ``nas.training.checkpoint``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backbones import build_model
from nas.errors import InputError
from nas.files import not_root, replacing, write_atomically
from nas.measure.memory import check_memory
from nas.sr.evaluation import EvalResult, check_images, evaluate_folder, evaluate_images, model_upscaler
from nas.sr.held_out import check_unseen, validation_images
from nas.sr.patches import PatchSampler
from nas.sr.pictures import source_pictures, training_pictures
from nas.stops import deferring, handling_stops, stop_asked
from nas.training.checkpoint import CHECKPOINT, Run, layout, load_checkpoint, save_checkpoint
from nas.training.distributed import join, launch_ranks, wrap
from nas.training.loop import Schedule, StepLog, make_optimizer, prepare_model, resolve_device, train_steps
from nas.training.recipe import PROTOCOL, RECIPE, TrainConfig, protocol_of, recipe_of, recipe_text
from space import load_spec
from space.arch import ArchSpec

logger = logging.getLogger(__name__)

FINAL = "final.json"


def setup(args: TrainConfig) -> Run:
    """Check the configuration, join the launch's ranks (if any) and build the run, resumed if asked."""
    for name in ("iters", "batch", "hr_patch", "halve_every", "val_every", "ckpt_every"):
        if getattr(args, name) <= 0:
            raise InputError(f"--{name.replace('_', '-')}: must be positive, got {getattr(args, name)}")
    if args.workers < 0:
        raise InputError(f"--workers: must be 0 or more, got {args.workers}")
    world = launch_ranks().world_size
    if args.batch % world:
        raise InputError(f"--batch: {args.batch} does not split evenly over {world} ranks")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise InputError(f"--lr: {args.lr} is not a positive number")
    if args.lr_data is not None and len(args.data) != 1:
        raise InputError(
            f"--lr-data: needs --data, one folder: the HR images its LR images match (got {len(args.data)})"
        )
    check_out(Path(args.out), args.resume, args.overwrite)
    if args.resume and not (Path(args.out) / CHECKPOINT).exists():
        raise InputError(f"--resume: no {CHECKPOINT} in {args.out} to continue from (leave out --resume to start)")
    spec = load_spec(args.arch)
    if args.hr_patch % spec.upscale:
        raise InputError(f"--hr-patch: {args.hr_patch} is not a multiple of the upscale {spec.upscale}")
    ranks, device = join(resolve_device(args.device))
    lr_patch = args.hr_patch // spec.upscale
    check_memory(spec, (lr_patch, lr_patch), args.batch // world, True, device, "--batch/--hr-patch")
    torch.manual_seed(args.seed)
    model = prepare_model(build_model(spec), device)
    schedule = Schedule("step", args.lr, 0, args.iters, step_every=args.halve_every)
    optimizer, scheduler = make_optimizer(model, schedule)
    whole = args.no_subimages or not args.data or args.lr_data is not None
    cache = None if whole else Path(args.cache) if args.cache else default_cache()
    if cache is not None and cache.exists() and not cache.is_dir():
        raise InputError(f"--cache: {cache} is a file, not a folder")
    hr, lr = training_pictures(args.data, cache, args.lr_data, spec.upscale)
    shard = (ranks.rank, ranks.world_size)
    sampler = PatchSampler(hr, spec.upscale, lr_patch, args.batch, args.seed, lr_pictures=lr, shard=shard)
    val = validation_images(args.val_data)  # bad validation or benchmark images fail now, not after training
    bench = {folder: check_images(folder, spec.upscale) for folder in args.bench_data}
    check_unseen(hr if cache is None else source_pictures(args.data), args.val_data, args.bench_data)
    recipe = recipe_of(args, spec, schedule, optimizer, device, subimages=cache is not None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(spec, model, optimizer, scheduler, sampler, device, out, [], val, ranks=ranks, workers=args.workers)
    run.recipe, run.protocol = recipe, protocol_of(args, spec, recipe, bench)
    if args.resume:
        load_checkpoint(run)  # every rank reads it: OUT must be visible to all of them
    run.model = wrap(model, device)  # after loading: the optimizer holds the same parameters either way
    if ranks.main:
        write_atomically(out / "spec.json", spec.to_json())
    return run


RUN_FILES = (CHECKPOINT, "model.pt", FINAL)


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an output folder that is a root or a file, or that holds an earlier run, unless resuming or
    overwriting."""
    not_root("--out", out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} is a file, not a folder")
    used = [name for name in RUN_FILES if (out / name).exists()]
    if used and not (resume or overwrite):
        raise InputError(
            f"--out: {out} holds an earlier run ({', '.join(used)}): add --resume to continue it "
            "or --overwrite to replace it"
        )
    if resume and overwrite:
        raise InputError("--resume and --overwrite: choose one")


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "msnas"


class StopAsked(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived and the step in progress has finished: the run's state is whole."""


@contextmanager
def stop_between_steps() -> Iterator[Callable[[], bool]]:
    """SIGINT and SIGTERM (torchrun passes Ctrl-C on as SIGTERM) ask the run to stop after the step in
    progress; a second one interrupts at once (``nas.stops``).  Yields whether a stop was asked."""
    with handling_stops(), deferring():
        yield lambda: stop_asked() is not None


def start_line(run: Run, iters: int) -> str:
    """What a run says as it starts (or resumes)."""
    ranks = f" ({run.ranks.world_size} ranks of {run.sampler.per_rank})" if run.ranks.world_size > 1 else ""
    return (
        f"training {run.spec.spec_hash} on {run.device}{ranks} from iteration {run.start} to {iters};"
        f" output in {run.out}"
    )


def validation_line(run: Run, iters: int, losses: list[torch.Tensor]) -> str:
    """The log's line for the latest validation (``run.history[-1]``): iteration, the mean training loss of
    ``losses`` (rank 0's, since the last validation), PSNR, SSIM, learning rate and speed."""
    last = run.history[-1]
    loss = f"{torch.stack(losses).float().mean().item():.4f}" if losses else "n/a"
    return (
        f"iteration {last['iteration']}/{iters}: loss {loss} (mean since the last validation), validation PSNR"
        f" {last['psnr']:.2f} dB, SSIM {last['ssim']:.4f}, lr {run.optimizer.param_groups[0]['lr']:.3g},"
        f" {last['samples_per_second']:.1f} samples/s"
    )


def train(run: Run, args: TrainConfig) -> None:
    """Train to ``--iters`` in chunks, validating and checkpointing between chunks (rank 0)."""
    from tqdm import tqdm

    if run.ranks.main:
        logger.info(start_line(run, args.iters))
        logger.info(recipe_text(run.recipe))
    log = StepLog()
    logged = 0  # log.losses already summarised in a validation line
    bar = tqdm(
        total=args.iters, initial=run.start, unit="it", dynamic_ncols=True, file=sys.stderr, disable=not run.ranks.main
    )
    last: dict[str, str] = {}
    done = stop = run.start

    with stop_between_steps() as asked:

        def on_step(i: int, loss: torch.Tensor) -> None:
            nonlocal done
            done = i + 1
            bar.update(1)
            if i % 50 == 0 and run.ranks.main:
                bar.set_postfix(loss=f"{loss.item():.4f}", **last)
            if asked() and done < stop:  # at a chunk's end the run validates and checkpoints first
                raise StopAsked

        i, whole = run.start, True  # whole: the model and optimizer hold exactly i iterations
        try:
            while i < args.iters:
                stop = min(args.iters, next_boundary(i, args.val_every, args.ckpt_every))
                whole = False
                train_steps(
                    run.model, run.optimizer, run.scheduler, run.sampler, i, stop, run.device, log, on_step, run.workers
                )
                i, whole = stop, True
                if run.ranks.main and (i % args.val_every == 0 or i == args.iters):
                    result = evaluate_images(run.val, run.spec.upscale, model_upscaler(run.network, run.device))
                    last = {"psnr": f"{result.psnr:.2f}"}
                    run.history.append(
                        {
                            "iteration": i,
                            "psnr": result.psnr,
                            "ssim": result.ssim,
                            "samples_per_second": log.samples * run.ranks.world_size / max(log.seconds, 1e-9),
                        }
                    )
                    logger.info(validation_line(run, args.iters, log.losses[logged:]))
                    logged = len(log.losses)
                save_checkpoint(run, i)
                if asked():
                    raise StopAsked
        except StopAsked:
            save_checkpoint(run, done)
            raise
        except KeyboardInterrupt:  # a second signal: saved only outside a step (else the last checkpoint stands)
            if whole:
                save_checkpoint(run, i)
            raise
        finally:
            bar.close()


def next_boundary(i: int, *everies: int) -> int:
    """The next iteration after ``i`` at which any periodic action is due."""
    return min((i // e + 1) * e for e in everies)


def save_model(folder: Path, spec: ArchSpec, model: nn.Module) -> None:
    """A trained network as ``nas.train`` leaves it: ``spec.json`` and ``model.pt`` (spec and state_dict)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "spec.json", spec.to_json())
    with replacing(folder / "model.pt") as file:
        torch.save({"spec": spec.to_dict(), "model": model.state_dict()}, file)


def finish(
    run: Run, bench: tuple[str, ...] | list[str], progress: Callable[[str, dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Save the final model, evaluate it on each benchmark folder (``progress(name, result)`` after each) and write
    final.json, which it returns (rank 0; other ranks return {})."""
    if not run.ranks.main:
        return {}
    save_model(run.out, run.spec, run.network)
    results: dict[str, Any] = {}
    for folder in bench:
        result: EvalResult = evaluate_folder(folder, run.spec.upscale, model_upscaler(run.network, run.device))
        name, record = Path(folder).name, result.as_dict()
        results[name] = record
        logger.info(benchmark_line(name, record))
        if progress is not None:
            progress(name, record)
    summary = {
        "spec_hash": run.spec.spec_hash,
        "history": run.history,
        "benchmarks": results,
        RECIPE: run.recipe,
        PROTOCOL: run.protocol,
        **layout(run),
    }
    write_atomically(run.out / FINAL, json.dumps(summary, indent=2))
    logger.info(f"finished: model.pt and {FINAL} written")
    return summary


def benchmark_line(name: str, result: dict[str, Any]) -> str:
    """One benchmark's result (as ``EvalResult.as_dict``) in a line; an exact reconstruction's PSNR is inf."""
    psnr = math.inf if result["psnr"] is None else result["psnr"]
    return f"{name:<12} PSNR {psnr:.2f} dB  SSIM {result['ssim']:.4f}  ({result['n_images']} images)"
