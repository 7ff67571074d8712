"""A proxy training budget as plain data: how long, how big a batch, and at what network size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from space.layout import MAX_BLOCKS, MAX_WIDTH

ScheduleKind = Literal["cosine", "step", "constant", "wsd"]
# warmup-stable-decay: the learning rate holds its peak until the last WSD_DECAY of the run, then decays (cosine) to
# min_ratio. The stable phase of a longer run is that of every shorter one, so budgets nest: a 10x run's stable
# checkpoints branch into the short decays of 1x and 3x (nas.training.proxy.fit_nested).
WSD_DECAY = 0.2


@dataclass(frozen=True)
class ProxyBudget:
    """How much training a proxy run gets, and at what width/depth the network is trained."""

    iterations: int = 300
    batch: int = 16
    patch: int = 16  # LR patch side
    peak_lr: float = 2e-3
    warmup: int = 50
    schedule: ScheduleKind = "cosine"
    min_ratio: float = 0.01
    width: int | None = 64  # None: the spec's own width (width 32 left MS3 untrained: 16 channels a branch)
    blocks: int | None = 2  # None: the spec's own depth

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scaled(self, factor: float) -> ProxyBudget:
        """The same recipe for ``factor`` times the iterations (longer-budget re-training); a WSD run keeps its
        warm-up, so that every budget shares one stable phase."""
        warmup = self.warmup if self.schedule == "wsd" else round(self.warmup * factor)
        return replace(self, iterations=max(1, round(self.iterations * factor)), warmup=warmup)

    @property
    def decay_start(self) -> int:
        """The iteration a WSD run leaves its stable phase (its last WSD_DECAY): shorter budgets branch off here."""
        return max(self.warmup, round(self.iterations * (1 - WSD_DECAY)))


@dataclass(frozen=True)
class Bounds:
    """The finite numbers a budget field allows: ``low..high`` (``low`` itself excluded when ``open_low``)."""

    low: float
    high: float
    open_low: bool = False

    def holds(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return math.isfinite(value) and above and value <= self.high

    def __str__(self) -> str:
        low, high = _number(self.low), _number(self.high)
        return f"above {low} up to {high}" if self.open_low else f"{low}..{high}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# Beyond these a proxy run cannot run or means nothing (every trial fails, or a junk result far below bicubic is
# recorded); a study file or --proxy outside them is refused before any study is made (budget_problem).
BOUNDS: dict[str, Bounds] = {
    "iterations": Bounds(1, 1_000_000),  # a full training of the paper's networks, not a proxy, at the top
    "batch": Bounds(1, 1024),
    "patch": Bounds(1, 1024),  # LR side; the training images must be at least patch x upscale (checked on the data)
    "peak_lr": Bounds(0, 1, open_low=True),  # Adam: 1e30 diverges at the first step
    "warmup": Bounds(0, 1_000_000),  # and at most ``iterations``
    "min_ratio": Bounds(0, 1),
    "width": Bounds(1, MAX_WIDTH),  # or None: the spec's own
    "blocks": Bounds(1, MAX_BLOCKS),
}


def budget_problem(budget: ProxyBudget) -> str:
    """What is out of range in a budget, as ``field: value (allowed: range)`` ("" when nothing is)."""
    for name, bounds in BOUNDS.items():
        value = getattr(budget, name)
        if value is not None and not bounds.holds(value):
            words = " or 'spec'" if name in ("width", "blocks") else ""
            return f"{name}: {value!r} (allowed: {bounds}{words})"
    if budget.warmup > budget.iterations:
        return f"warmup: {budget.warmup} (allowed: 0..iterations, here {budget.iterations})"
    return ""


BUDGET_FIELDS = tuple(f.name for f in fields(ProxyBudget))


# Chosen by measurement (BENCHMARKS.md, "Proxy schedule"): short budgets want warm-up, a high peak and cosine decay.
CPU_PROXY = ProxyBudget()
GPU_PROXY = ProxyBudget(iterations=4000, batch=16, patch=48, peak_lr=5e-4, warmup=100, width=None, blocks=None)
