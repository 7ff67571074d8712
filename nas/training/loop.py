"""The training loop shared by the proxy trainer and full training: L1, Adam, a schedule, a device.

CUDA runs bf16 autocast with channels-last; the CPU runs float32 and is
deterministic for a seed.  A loss that stops being finite raises DivergenceError.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nas.sr.patches import PatchSampler, batches
from studies.budget import ScheduleKind


class DivergenceError(RuntimeError):
    """The training loss became NaN or infinite: the run stops at once."""


@dataclass(frozen=True)
class Schedule:
    """Learning rate per iteration: linear warm-up, then cosine decay, halving steps, constant, or warmup-stable-decay
    (the peak until ``decay_start``, then a cosine decay to ``min_ratio`` over the rest)."""

    kind: ScheduleKind = "cosine"
    peak: float = 2e-4
    warmup: int = 0
    total: int = 1
    min_ratio: float = 0.0  # cosine: final lr = peak * min_ratio
    step_every: int = 250_000  # step: multiply by gamma every this many iterations
    gamma: float = 0.5
    decay_start: int = 0  # wsd: the first iteration of the decay

    def factor(self, i: int) -> float:
        """Multiplier of ``peak`` at iteration ``i`` (0-based)."""
        if i < self.warmup:
            return (i + 1) / self.warmup
        if self.kind == "constant":
            return 1.0
        if self.kind == "step":
            return self.gamma ** (i // self.step_every)
        start = self.decay_start if self.kind == "wsd" else self.warmup
        if i < start:
            return 1.0
        span = max(1, self.total - start)
        progress = min(1.0, (i - start) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def resolve_device(device: str | None) -> torch.device:
    """``None``/"auto" picks CUDA when present; asking for CUDA without one is an error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda requested but no CUDA device is available (allowed: cpu)")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device: {device!r} (allowed: cpu, cuda)")
    return torch.device(device)


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move a model to the device; channels-last where it pays (CUDA, and CPU oneDNN too)."""
    return model.to(device=device, memory_format=torch.channels_last)  # type: ignore[call-overload]


def make_optimizer(model: nn.Module, schedule: Schedule) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam (0.9, 0.999, eps 1e-8), as in the paper, with the schedule as a LambdaLR."""
    optimizer = torch.optim.Adam(model.parameters(), lr=schedule.peak, betas=(0.9, 0.999), eps=1e-8)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.factor)


@dataclass
class StepLog:
    """Losses of the iterations run so far (kept on the device until read) and the time spent."""

    losses: list[torch.Tensor] = field(default_factory=list)
    seconds: float = 0.0
    samples: int = 0

    def values(self) -> list[float]:
        return torch.stack(self.losses).float().cpu().tolist() if self.losses else []


def train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    sampler: PatchSampler,
    start: int,
    stop: int,
    device: torch.device,
    log: StepLog,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    workers: int = 0,
) -> None:
    """Run iterations ``start .. stop-1``; batch i is ``sampler.batch_at(i)``, whatever ran before.

    ``workers``: data-loader processes cutting the crops ahead (0: in this thread); the batches are the same.
    """
    cuda = device.type == "cuda"
    check_every = 25 if cuda else 1  # reading the loss syncs a GPU; on the CPU it is free
    model.train()
    began = time.perf_counter()
    for i, (lr_img, hr) in enumerate(batches(sampler, start, stop, device, workers), start):
        lr_img = lr_img.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
            sr = model(lr_img)
        loss = F.l1_loss(sr.float(), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        log.losses.append(loss.detach())
        log.samples += hr.shape[0]
        if (i + 1 - start) % check_every == 0 or i + 1 == stop:
            _check_finite(log.losses[-check_every:], i)
        if on_step is not None:
            on_step(i, loss)
    if cuda:
        torch.cuda.synchronize()
    log.seconds += time.perf_counter() - began


def _check_finite(losses: list[torch.Tensor], iteration: int) -> None:
    recent = torch.stack(losses)
    if not bool(torch.isfinite(recent).all()):
        raise DivergenceError(f"training diverged: loss became {recent[-1].item()} by iteration {iteration}")


def set_seed(seed: int) -> None:
    """Seed torch (weight init); data order has its own seed in the sampler."""
    torch.manual_seed(seed)
