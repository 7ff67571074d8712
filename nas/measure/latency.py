"""Measured CPU latency of a full-size network (the optional fourth objective).

``RUNTIME`` is what the objective times: eager PyTorch, channels-last, inference mode, the faster
runtime on a quiet CPU here; ``onnxruntime`` runs the ONNX file ``nas.export`` writes (faster beside
other jobs; BENCHMARKS.md, "CPU latency").  ``latency_runtime`` on each trial records which one ran.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from backbones import build_model
from nas import SPIN_COUNT_ENV
from nas.allocator import memory_kept
from nas.measure.deploy import export_onnx, onnx_session, run_session
from space.arch import ArchSpec

Runtime = Literal["eager", "onnxruntime"]
RUNTIMES: tuple[Runtime, ...] = ("eager", "onnxruntime")
RUNTIME: Runtime = "eager"  # what the latency objective measures (measured faster on a quiet CPU)
Forward = Callable[[], object]
# How idle OpenMP threads wait (libgomp reads these once, when torch loads it): latency_setup's key -> variable
OPENMP_WAITING = {"gomp_spincount": SPIN_COUNT_ENV, "omp_wait_policy": "OMP_WAIT_POLICY"}


def eager_forward(model: nn.Module, x: torch.Tensor) -> Forward:
    """One inference-mode forward of the channels-last model."""
    model = model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = x.contiguous(memory_format=torch.channels_last)

    def forward() -> object:
        with torch.inference_mode():
            return model(x)

    return forward


def onnxruntime_forward(model: nn.Module, x: torch.Tensor, folder: Path, spinning: bool = False) -> Forward:
    """One ONNX Runtime run of the model exported to ``folder`` (the file is read once, here)."""
    path = folder / "model.onnx"
    export_onnx(model.eval(), path, x)
    session = onnx_session(path, spinning=spinning)
    return lambda: run_session(session, x)


def forward_of(model: nn.Module, x: torch.Tensor, runtime: Runtime, folder: Path) -> Forward:
    """The forward of ``model`` on ``x`` in the given runtime (``folder`` holds an exported file)."""
    if runtime == "eager":
        return eager_forward(model, x)
    return onnxruntime_forward(model, x, folder)


def latency_setup() -> dict[str, object]:
    """What besides the runtime sets a latency here (each moved MS3's or standard's time beyond the noise:
    BENCHMARKS.md, "Kept memory, a folded conv_last"); the OpenMP variables as this process's environment holds
    them."""
    openmp = {key: os.environ.get(variable) for key, variable in OPENMP_WAITING.items()}
    return {"threads": torch.get_num_threads(), **openmp, "memory_kept": memory_kept()}


def time_ms(forward: Forward) -> float:
    """Wall time of one call, in milliseconds."""
    start = time.perf_counter()
    forward()
    return (time.perf_counter() - start) * 1e3


def cpu_latency_ms(spec: ArchSpec, lr_size: int = 128, repeats: int = 3, runtime: Runtime = RUNTIME) -> float:
    """Median CPU latency of the full-size network, batch 1, after one warm-up run."""
    model = build_model(spec)
    x = torch.rand(1, 3, lr_size, lr_size)
    with tempfile.TemporaryDirectory() as tmp:
        forward = forward_of(model, x, runtime, Path(tmp))
        forward()
        times = sorted(time_ms(forward) for _ in range(repeats))
    return times[len(times) // 2]
