"""What a full training run is asked to do and what it records of it.

``TrainConfig`` is the command line's flags as plain data; the recipe (how the network was made) and the protocol
(how it was measured) go into ``final.json``, the recipe into every checkpoint too, and a resume with another
recipe is refused (``check_recipe``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nas.errors import InputError
from nas.sr.data_identity import data_identity, describe_data
from nas.sr.evaluation import protocol
from nas.training.loop import Schedule
from space.arch import ArchSpec

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
