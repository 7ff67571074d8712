"""The latency objective's runtimes: the deployed ONNX Runtime forward computes what eager PyTorch does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from backbones import build_model
from nas.measure.latency import RUNTIME, RUNTIMES, cpu_latency_ms, forward_of
from space import preset


@pytest.mark.parametrize("name", ["standard", "ms3"])
def test_runtimes_agree_on_the_output(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(preset(name, upscale=2).resized(16, 1))
    x = torch.rand(1, 3, 12, 20)  # not square, a side the coarse branch divides
    eager, deployed = (np.asarray(forward_of(model, x, r, tmp_path)()) for r in ("eager", "onnxruntime"))
    assert eager.shape == deployed.shape == (1, 3, 24, 40)
    assert np.abs(eager - deployed).max() < 1e-4


def test_every_runtime_is_timed() -> None:
    assert RUNTIME in RUNTIMES
    spec = preset("ms3", upscale=2).resized(16, 1)
    for runtime in RUNTIMES:
        assert 0 < cpu_latency_ms(spec, lr_size=16, repeats=1, runtime=runtime) < 10_000
