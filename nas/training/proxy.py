"""The proxy trainer every search trial calls: a short, seeded training run and its validation PSNR/SSIM.

Results are comparable across architectures for one seed (the same batches in
the same order, see ``nas.data``) and report the gain over bicubic on the same
validation images, so a proxy that teaches nothing is visible as a gain near 0.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from backbones import build_model
from nas.sr.evaluation import EvalResult, Prepared, UpscaleFn, evaluate_images, mean_psnr, model_upscaler, prepared
from nas.sr.patches import PatchSampler
from nas.sr.pictures import NamedImage, Picture
from nas.sr.region_scores import region_psnrs
from nas.stops import interruptible
from nas.training.loop import (
    Schedule,
    StepLog,
    make_optimizer,
    prepare_model,
    resolve_device,
    set_seed,
    train_steps,
)
from space.arch import ArchSpec
from studies.budget import ProxyBudget


def schedule_of(budget: ProxyBudget) -> Schedule:
    """The learning-rate schedule a budget asks for."""
    return Schedule(budget.schedule, budget.peak_lr, budget.warmup, budget.iterations, budget.min_ratio,
                    decay_start=budget.decay_start)  # fmt: skip


@dataclass(frozen=True)
class ProxyResult:
    """What a proxy run measured."""

    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float
    train_seconds: float
    samples_per_second: float
    curve: tuple[float, ...]  # mean training loss per tenth of the run
    per_image: tuple[tuple[str, float, float], ...]
    device: str
    seed: int
    budget: ProxyBudget
    val_curve: tuple[tuple[int, float], ...] = ()  # (iterations done, validation PSNR) at each quarter of the run
    per_region: tuple[tuple[str, float], ...] = ()  # (region class, PSNR over its pixels): see nas.sr.region_scores

    @property
    def loss_points(self) -> list[tuple[int, float]]:
        """(iterations done, mean loss over the tenth of the run ending there): ``curve`` placed on the x axis."""
        n = len(self.curve)
        return [(round(self.budget.iterations * (k + 1) / n), loss) for k, loss in enumerate(self.curve)]

    @property
    def gain(self) -> float:
        """PSNR gain over bicubic upsampling on the same validation images (dB)."""
        return self.psnr - self.bicubic_psnr

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gain"] = self.gain
        return data


logger = logging.getLogger(__name__)  # `log` is a run's StepLog here

CURVE_POINTS = 4  # validations per proxy run (the last is the run's result): the learning curve


def curve_stops(iterations: int, points: int = CURVE_POINTS) -> list[int]:
    """Iteration counts after which the run is validated: evenly spaced, the last one the whole run."""
    return sorted({max(1, round(iterations * k / points)) for k in range(1, points + 1)})


PROGRESS_EVERY = 10  # iterations between loss readings on the progress bar


def fit_proxy(
    spec: ArchSpec,
    budget: ProxyBudget,
    train: Sequence[NamedImage] | Sequence[Picture],
    seed: int = 0,
    device: str | None = None,
    at_stop: Callable[[int, nn.Module], None] | None = None,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    compile_model: bool = False,
    workers: int = 0,
) -> tuple[nn.Module, StepLog]:
    """Train ``spec`` resized to the budget's width/depth; batches are fixed by the seed alone.

    ``at_stop(iterations, model)`` is called after each of ``curve_stops`` but the last (validation does
    not touch the training state: the result is the same with or without it).  ``compile_model``: train
    through ``torch.compile`` (off by default: ``benchmarks.gpu_check --compile`` measures whether it pays);
    validation and the returned model are the plain module, which shares the trained parameters.
    ``workers``: data-loader processes cutting the crops ahead (the batches are the same with any number).
    """
    dev = resolve_device(device)
    set_seed(seed)
    model = prepare_model(build_model(spec.resized(budget.width, budget.blocks)), dev)
    trained: nn.Module = torch.compile(model) if compile_model else model  # type: ignore[assignment]
    optimizer, scheduler = make_optimizer(model, schedule_of(budget))
    sampler = PatchSampler.from_images(train, spec.upscale, budget.patch, budget.batch, seed)
    log = StepLog()
    start = 0
    for stop in curve_stops(budget.iterations) if at_stop else [budget.iterations]:
        train_steps(trained, optimizer, scheduler, sampler, start, stop, dev, log, on_step, workers)
        if at_stop is not None and stop < budget.iterations:
            at_stop(stop, model)
        start = stop
    return model, log


def train_proxy(
    spec: ArchSpec,
    budget: ProxyBudget,
    train: Sequence[NamedImage] | Sequence[Picture],
    val: ValidationSet,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
    compile_model: bool = False,
    workers: int = 0,
    progress_lines: float = 0.0,
    keep_going: Callable[[int, float], bool] | None = None,
) -> ProxyResult:
    """Train ``spec`` (resized to the budget's width/depth) and validate it against bicubic.

    ``progress``: a bar on stderr (iteration, loss, s/it, ETA); callers pass whether stderr is a terminal.
    ``progress_lines``: instead, a whole line with the same figures every that many seconds (0: none), for a
    worker whose stderr a launcher relays line by line to a terminal.
    ``keep_going(iterations, psnr)``: asked after each validation before the last; False stops the run with
    ``StoppedEarly`` (stopping from the learning curve).
    """
    if val.scale != spec.upscale:
        raise ValueError(f"validation set is for x{val.scale}, the spec upscales x{spec.upscale}")
    dev = resolve_device(device)
    curve: list[tuple[int, float]] = []

    def validate(iterations: int, model: nn.Module) -> None:
        curve.append((iterations, mean_psnr(val.prepared, val.scale, model_upscaler(model, dev))))
        if keep_going is not None and not keep_going(*curve[-1]):
            raise StoppedEarly(iterations, tuple(curve))

    bar = tqdm(total=budget.iterations, unit="it", leave=False, file=sys.stderr, disable=not progress)
    lines = ProgressLines(budget.iterations, progress_lines) if progress_lines > 0 else None

    def step(i: int, loss: torch.Tensor) -> None:
        bar.update(1)
        if i % PROGRESS_EVERY == 0:  # reading the loss waits for the device: not every step
            value = loss.item()
            bar.set_postfix(loss=f"{value:.4f}")
            if lines is not None:
                lines.maybe_say(i + 1, value)

    watched = progress or lines is not None
    with interruptible():  # a training holds no stored state: a stop may drop it at once (nas.stops)
        try:
            model, log = fit_proxy(
                spec, budget, train, seed, str(dev.type), validate, step if watched else None, compile_model, workers
            )
        finally:
            bar.close()
        return score_proxy(model, log, val, dev, seed, budget, tuple(curve))


class StoppedEarly(Exception):
    """A proxy run stopped at a validation because its curve ranked it out (``train_proxy``'s ``keep_going``)."""

    def __init__(self, iterations: int, curve: tuple[tuple[int, float], ...]) -> None:
        super().__init__(f"stopped at iteration {iterations}: PSNR {curve[-1][1]:.3f} dB ranked out")
        self.iterations, self.curve = iterations, curve


class ProgressLines:
    """``iteration 150/300, loss 0.0312, 0.41 s/it, ETA 61 s`` logged at most once per ``every`` seconds."""

    def __init__(self, total: int, every: float) -> None:
        self.total, self.every = total, every
        self.start = self.last = time.monotonic()

    def maybe_say(self, done: int, loss: float) -> None:
        now = time.monotonic()
        if now - self.last < self.every or done >= self.total:
            return
        self.last = now
        per_it = (now - self.start) / done
        eta = per_it * (self.total - done)
        line = f"iteration {done}/{self.total}, loss {loss:.4f}, {per_it:.2f} s/it, ETA {eta:.0f} s"
        logger.info(line)


def score_proxy(
    model: nn.Module,
    log: StepLog,
    val: ValidationSet,
    dev: torch.device,
    seed: int,
    budget: ProxyBudget,
    earlier: tuple[tuple[int, float], ...] = (),
) -> ProxyResult:
    """Validate a trained proxy model on one validation set (``earlier``: the curve's points before the end)."""
    upscale = remembered(model_upscaler(model, dev))  # the region pass degrades the same images: one forward each
    result = evaluate_images(val.images, val.scale, upscale)
    return ProxyResult(
        psnr=result.psnr,
        ssim=result.ssim,
        bicubic_psnr=val.bicubic.psnr,
        bicubic_ssim=val.bicubic.ssim,
        train_seconds=log.seconds,
        samples_per_second=log.samples / log.seconds,
        curve=tuple(_tenths(log.values())),
        val_curve=(*earlier, (budget.iterations, result.psnr)),
        per_image=tuple(result.per_image),
        per_region=tuple(region_psnrs(val.images, val.scale, upscale).items()),
        device=_device_name(dev),
        seed=seed,
        budget=budget,
    )


@dataclass(frozen=True)
class ValidationSet:
    """Validation HR images at one scale, with their bicubic PSNR/SSIM computed once."""

    images: tuple[NamedImage, ...]
    scale: int

    @classmethod
    def of(cls, images: list[NamedImage], scale: int) -> ValidationSet:
        return cls(tuple(images), scale)

    @cached_property
    def bicubic(self) -> EvalResult:
        return evaluate_images(self.images, self.scale, None)

    @cached_property
    def prepared(self) -> Prepared:
        """The images prepared and degraded once, for the learning curve's checkpoints."""
        return prepared(self.images, self.scale)


def remembered(upscale: UpscaleFn) -> UpscaleFn:
    """``upscale`` that runs once per distinct LR image and returns the same SR array for it again."""
    done: dict[tuple[tuple[int, ...], bytes], Any] = {}

    def run(lr: Any) -> Any:
        array = np.ascontiguousarray(lr)
        key = (array.shape, hashlib.sha256(array.tobytes()).digest())
        if key not in done:
            done[key] = upscale(lr)
        return done[key]

    return run


def _tenths(losses: list[float]) -> list[float]:
    n = len(losses)
    if n == 0:
        return []
    bounds = [round(n * k / 10) for k in range(11)]
    return [sum(losses[a:b]) / (b - a) for a, b in pairwise(bounds) if b > a]


def _device_name(dev: torch.device) -> str:
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
