"""Measured CPU latency of a full-size network (the optional fourth objective)."""

from __future__ import annotations

import time

import torch

from backbones import build_model
from space.arch import ArchSpec


def cpu_latency_ms(spec: ArchSpec, lr_size: int = 128, repeats: int = 3) -> float:
    """Median CPU latency of the full-size network, channels-last, batch 1."""
    model = build_model(spec).eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.rand(1, 3, lr_size, lr_size).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]
