"""A proxy training budget as plain data: how long, how big a batch, and at what network size."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

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


# Chosen by measurement (BENCHMARKS.md, "Proxy schedule"): short budgets want warm-up, a high peak and cosine decay.
CPU_PROXY = ProxyBudget()
GPU_PROXY = ProxyBudget(iterations=4000, batch=16, patch=48, peak_lr=5e-4, warmup=100, width=None, blocks=None)
