"""A proxy training budget as plain data: how long, how big a batch, and at what network size."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

ScheduleKind = Literal["cosine", "step", "constant"]


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
        """The same recipe for ``factor`` times the iterations (longer-budget re-training)."""
        return replace(self, iterations=max(1, round(self.iterations * factor)), warmup=round(self.warmup * factor))


# Chosen by measurement (BENCHMARKS.md, "Proxy schedule"): short budgets want warm-up, a high peak and cosine decay.
CPU_PROXY = ProxyBudget()
GPU_PROXY = ProxyBudget(iterations=4000, batch=16, patch=48, peak_lr=5e-4, warmup=100, width=None, blocks=None)
