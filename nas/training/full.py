"""Full training with the paper's recipe (Sec. 4.1): resumable, validated, benchmarked at the end.

Checkpoints are written atomically; a resumed run ends with the same weights as an uninterrupted
one (batches depend only on the seed and the iteration).  Under ``torchrun`` the global batch is split
over the ranks (``nas.training.distributed``); rank 0 alone logs, validates, checkpoints and evaluates,
and a checkpoint resumes under any number of ranks that divides the batch.  SIGINT or SIGTERM stops a run
after the step in progress, with a checkpoint of that step.  ``python -m nas.train`` is the command line.

``final.json`` records how the network was made (``recipe``: data, iterations, batch, patches, optimizer,
schedule, seed, scale) and how it was measured (``protocol``: ``nas.sr.evaluation``'s, with the validation and
benchmark sets); a checkpoint keeps the recipe, and a resume with another one is refused.  Progress lines go to
this module's logger (``nas.train`` writes them to ``OUT/train.log``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backbones import build_model
from nas.errors import InputError, one_line
from nas.files import not_root, replacing, write_atomically
from nas.measure.memory import check_memory
from nas.sr.data import (
    NamedImage,
    PatchSampler,
    check_unseen,
    data_identity,
    describe_data,
    source_pictures,
    training_pictures,
    validation_images,
)
from nas.sr.evaluation import EvalResult, check_images, evaluate_folder, evaluate_images, model_upscaler, protocol
from nas.stops import deferring, handling_stops, stop_asked
from nas.training.distributed import Ranks, join, launch_ranks, unwrap, wrap
from nas.training.loop import Schedule, StepLog, make_optimizer, prepare_model, resolve_device, train_steps
from space import load_spec
from space.arch import ArchSpec

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
FINAL = "final.json"
PAPER_ITERS = 1_000_000
PAPER_HALVE_EVERY = 250_000
RECIPE = "recipe"  # final.json and the checkpoint: how the network was trained (recipe_of)
PROTOCOL = "protocol"  # final.json: how it was measured (nas.sr.evaluation.protocol, with the sets)
RESUMABLE = ("iterations", "precision")  # recipe fields a resume may change: train longer, on another device
AUGMENTATION = "random crops, flips and 90-degree rotations; LR made by the evaluation's bicubic"


@dataclass(frozen=True)
class TrainConfig:
    """A full training run as plain data (the command line's flags, one field each)."""

    arch: str
    data: tuple[str, ...] = ()  # HR training folders, taken together (none: the bundled photos)
    lr_data: str | None = None  # pre-made LR images of the one --data folder
    val_data: tuple[str, ...] = ()  # HR validation folders (none: the bundled photos)
    bench_data: tuple[str, ...] = ()
    out: str = "runs/train"
    resume: bool = False
    overwrite: bool = False  # replace an earlier run's files in ``out`` (else a used ``out`` is refused)
    iters: int = PAPER_ITERS
    batch: int = 16
    hr_patch: int = 128
    lr: float = 2e-4
    halve_every: int = PAPER_HALVE_EVERY
    val_every: int = 5000
    ckpt_every: int = 5000
    seed: int = 0
    device: str = "auto"
    cache: str | None = None
    no_subimages: bool = False
    workers: int = 0  # data-loader processes per rank (0: crops are cut in the training thread)


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
    val: list[NamedImage]
    start: int = 0
    ranks: Ranks = field(default_factory=Ranks)
    workers: int = 0
    recipe: dict[str, Any] = field(default_factory=dict)  # recipe_of: saved in checkpoints and final.json
    protocol: dict[str, Any] = field(default_factory=dict)  # protocol_of: final.json

    @property
    def network(self) -> nn.Module:
        """The network itself (inside its DistributedDataParallel wrapper under torchrun)."""
        return unwrap(self.model)


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


def recipe_of(
    args: TrainConfig,
    spec: ArchSpec,
    schedule: Schedule,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    subimages: bool,
) -> dict[str, Any]:
    """How the network is trained, as final.json records it: enough to train it again."""
    lr_patch = args.hr_patch // spec.upscale
    return {
        "data": data_identity(args.data, args.val_data),  # folders, image counts and content hashes of both sides
        "lr_data": None if args.lr_data is None else Path(args.lr_data).name,
        "subimages": "480x480, stride 240" if subimages else None,
        "scale": spec.upscale,
        "iterations": args.iters,
        "batch": args.batch,
        "hr_patch": args.hr_patch,
        "lr_patch": lr_patch,
        "augmentation": AUGMENTATION,
        "loss": "L1",
        "optimizer": {"name": type(optimizer).__name__, **{k: optimizer.defaults[k] for k in ("betas", "eps")}},
        "lr": args.lr,
        "schedule": {
            "kind": schedule.kind,
            "warmup": schedule.warmup,
            "every": schedule.step_every,
            "factor": schedule.gamma,
        },
        "seed": args.seed,
        "precision": "bf16 autocast" if device.type == "cuda" else "float32",
    }


def protocol_of(args: TrainConfig, spec: ArchSpec, recipe: dict[str, Any], bench: dict[str, int]) -> dict[str, Any]:
    """How the validation history and the benchmarks were measured, and on which images."""
    val = recipe["data"]["val"]
    return {
        **protocol(spec.upscale),
        "validation": {"folders": val["folders"], "images": val["images"], "every": args.val_every},
        "benchmarks": {Path(folder).name: images for folder, images in bench.items()},
    }


def recipe_text(recipe: dict[str, Any]) -> str:
    """A recipe in one line, for the log."""
    schedule = recipe["schedule"]
    return (
        f"data {describe_data(recipe['data'])}; x{recipe['scale']}, {recipe['iterations']} iterations, batch"
        f" {recipe['batch']}, HR patch {recipe['hr_patch']}, lr {recipe['lr']:g} x{schedule['factor']:g} every"
        f" {schedule['every']}, seed {recipe['seed']}, {recipe['precision']}"
    )


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


def layout(run: Run) -> dict[str, int]:
    """How the global batch was split: recorded in each checkpoint and in final.json."""
    return {"world_size": run.ranks.world_size, "batch_per_rank": run.sampler.per_rank}


def save_checkpoint(run: Run, iteration: int) -> None:
    """Write the checkpoint to a fresh file beside the old one, then rename: a kill never leaves a torn file, and a
    link planted beside it is never written through (rank 0 only)."""
    if not run.ranks.main:
        return
    state = {
        "iteration": iteration,
        "spec": run.spec.to_dict(),
        "spec_hash": run.spec.spec_hash,
        "model": run.network.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": run.history,
        RECIPE: run.recipe,
        **layout(run),
    }
    with replacing(run.out / CHECKPOINT) as file:
        torch.save(state, file)


def load_checkpoint(run: Run) -> None:
    """Continue from ``OUT/checkpoint.pt``; a file that is not one of ours is an error naming it (and kept)."""
    path = run.out / CHECKPOINT
    try:
        state = torch.load(path, map_location=run.device, weights_only=True)
        missing = [
            k for k in ("iteration", "spec_hash", "model", "optimizer", "scheduler", "history") if k not in state
        ]
    except Exception as err:  # torch.load raises many kinds for a truncated, empty or foreign file
        raise InputError(f"--resume: {path} is not a readable checkpoint ({one_line(err)[:120]}); it is kept") from None
    if missing:
        raise InputError(f"--resume: {path} is not an msnas checkpoint (no {', '.join(missing)}); it is kept")
    if state["spec_hash"] != run.spec.spec_hash:
        raise InputError(f"--resume: {run.out / CHECKPOINT} is for another architecture ({state['spec_hash']})")
    run.network.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    check_recipe(path, state.get(RECIPE), run.recipe)
    run.history = list(state["history"])
    run.start = int(state["iteration"])


def check_recipe(path: Path, saved: dict[str, Any] | None, now: dict[str, Any]) -> None:
    """Refuse to resume with another recipe than the checkpoint's (but for RESUMABLE fields): final.json would
    record a recipe the network was not trained with.  A checkpoint from before recipes were kept is taken."""
    if saved is None:
        return
    changed = [k for k in sorted(saved.keys() | now.keys()) if k not in RESUMABLE and saved.get(k) != now.get(k)]
    if changed:
        said = "; ".join(f"{k} {shown(k, saved.get(k))} -> {shown(k, now.get(k))}" for k in changed)
        raise InputError(
            f"--resume: {path} was trained with another recipe ({said}): resume with its flags, or train anew"
            " in another --out"
        )


def shown(key: str, value: Any) -> str:
    """A recipe field in a few words (a data identity as describe_data says it)."""
    return describe_data(value) if key == "data" and isinstance(value, dict) else json.dumps(value)


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
