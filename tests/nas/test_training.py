"""The training loop: schedule shapes, determinism on the CPU, divergence stops the run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backbones import build_model
from nas.sr.patches import PatchSampler
from nas.training.loop import DivergenceError, Schedule, StepLog, make_optimizer, prepare_model, train_steps
from space import preset


def test_cosine_schedule_with_warmup():
    s = Schedule("cosine", 1e-3, warmup=10, total=110, min_ratio=0.1)
    assert s.factor(0) == pytest.approx(0.1) and s.factor(9) == pytest.approx(1.0)
    assert s.factor(10) == pytest.approx(1.0)
    assert s.factor(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert s.factor(110) == pytest.approx(0.1) and s.factor(500) == pytest.approx(0.1)


def test_step_schedule_halves():
    s = Schedule("step", 2e-4, total=10**6, step_every=250_000)
    assert [s.factor(i) for i in (0, 249_999, 250_000, 999_999)] == [1, 1, 0.5, 0.125]


def tiny_run(seed: int = 0, iters: int = 6, lr: float = 1e-3) -> tuple[torch.nn.Module, StepLog]:
    rng = np.random.default_rng(0)
    images = [(f"i{k}", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for k in range(2)]
    torch.manual_seed(seed)
    model = prepare_model(build_model(preset("ms3", upscale=2).resized(8, 1)), torch.device("cpu"))
    optimizer, scheduler = make_optimizer(model, Schedule("constant", lr, total=iters))
    sampler = PatchSampler.from_images(images, 2, 8, 2, seed)
    log = StepLog()
    train_steps(model, optimizer, scheduler, sampler, 0, iters, torch.device("cpu"), log)
    return model, log


def test_cpu_training_is_deterministic():
    a, log_a = tiny_run()
    b, log_b = tiny_run()
    assert log_a.values() == log_b.values()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert log_a.samples == 12 and log_a.seconds > 0


def test_divergence_raises_at_once():
    with pytest.raises(DivergenceError, match="by iteration 1"):
        tiny_run(lr=math.inf)
