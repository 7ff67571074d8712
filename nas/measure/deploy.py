"""The exported model: ONNX written by ``nas.export``, run by ONNX Runtime on the CPU.

``benchmarks.latency`` times it beside eager PyTorch (BENCHMARKS.md, "Eager PyTorch and ONNX Runtime, quiet and
beside two busy jobs"): quiet, eager PyTorch (channels-last) is the faster runtime for every unit; beside busy
jobs, ONNX Runtime is.  So the latency objective times eager PyTorch by default
(``nas.measure.latency.RUNTIME``), and this runtime is there to measure and to ship.

ONNX Runtime's threads spin while waiting for work by default; on a machine that other jobs share, a
spinning thread steals the core its sibling needs, so sessions here do not spin (on a quiet machine spinning
is faster: the same BENCHMARKS.md section says how much).
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

ONNX_OPSET = 17
INPUT, OUTPUT = "lr", "sr"
DYNAMIC_AXES = {INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 2: "sr_height", 3: "sr_width"}}
# What torch 2.13 says on every trace and legacy ONNX export; callers check the outputs against eager instead.
TORCH_NOTICES = (
    r"`torch\.jit\.(trace|trace_method|save|load)` is deprecated",
    r"You are using the legacy TorchScript-based ONNX export",
    r"The feature will be removed",
)


class RuntimeMissing(RuntimeError):
    """An optional package the deployed runtime needs is not installed."""


@contextlib.contextmanager
def quiet_torch() -> Iterator[None]:
    """Silence the deprecation notices and tracer warnings torch gives on every export (outputs are checked)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        for pattern in TORCH_NOTICES:
            warnings.filterwarnings("ignore", message=pattern, category=DeprecationWarning)
        yield


def export_onnx(model: nn.Module, path: Path, example: torch.Tensor) -> None:
    """Write ``model`` as ONNX traced at ``example``'s shape (batch, height and width dynamic)."""
    if importlib.util.find_spec("onnx") is None:
        raise RuntimeMissing("ONNX export needs the onnx package (pip install onnx)")
    with torch.no_grad(), quiet_torch():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes=DYNAMIC_AXES,
        )


def onnx_session(path: Path, threads: int | None = None, spinning: bool = False) -> Any:
    """ONNX Runtime's CPU session for the file with all graph optimisations; ``threads`` defaults to torch's."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise RuntimeMissing("running ONNX needs the onnxruntime package (pip install onnxruntime)")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(session: Any, lr: torch.Tensor) -> Any:
    """The session's SR output (a numpy array) for an LR batch."""
    return session.run(None, {INPUT: lr.numpy()})[0]
