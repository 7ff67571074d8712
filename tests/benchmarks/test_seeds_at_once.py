"""Two seeds trained at once in one vmapped model do what two separate trainings do (so the benchmark's rates
compare the same work)."""

from __future__ import annotations

import torch

from benchmarks.seeds_at_once import batches, proxy_models, separate_step, stacked_step
from studies.budget import ProxyBudget

TINY = ProxyBudget(batch=2, patch=6, width=8, blocks=1)


def test_a_stacked_step_trains_each_seed_as_its_own_training_would():
    x, y = batches(2, TINY)
    stacked, step = stacked_step(proxy_models("ms3", 2, TINY))
    separate = proxy_models("ms3", 2, TINY)
    steps = [separate_step(m) for m in separate]
    for _ in range(3):
        step(x, y)
        for k, one in enumerate(steps):
            one(x[k], y[k])
    for k, model in enumerate(separate):
        for name, weight in model.named_parameters():
            torch.testing.assert_close(stacked[name][k], weight, rtol=1e-5, atol=1e-6)
    first = next(iter(stacked.values()))
    assert not torch.equal(first[0], first[1])  # two seeds, not one
