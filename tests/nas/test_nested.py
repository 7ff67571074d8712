"""Nested WSD budgets: each branch of one run is exactly the WSD run of that budget alone (CPU, tiny network)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from nas.sr.pictures import training_pictures
from nas.training.nested import Branch, check_ladder, fit_nested
from nas.training.proxy import fit_proxy, schedule_of
from space import preset
from studies.budget import WSD_DECAY, ProxyBudget

BASE = ProxyBudget(iterations=10, batch=2, patch=8, warmup=2, schedule="wsd", width=16, blocks=1)
SPEC = preset("ms3", "srresnet", 2, 1, 16)


def test_the_wsd_schedule_holds_its_peak_until_the_last_fifth():
    b = BASE.scaled(3)
    s = schedule_of(b)
    assert (b.iterations, b.warmup, b.decay_start) == (30, 2, round(30 * (1 - WSD_DECAY)))
    assert [s.factor(i) for i in (2, b.decay_start - 1, b.decay_start)] == [1.0, 1.0, 1.0]
    assert s.factor(b.iterations - 1) < 0.1  # the sixth of six decay steps, towards min_ratio
    assert BASE.scaled(3).decay_start > BASE.decay_start  # the short budget branches off the long one's stable phase


def test_every_branch_is_the_run_of_its_budget_alone():
    train = training_pictures((), None, None, 2)[0]
    ladder = [BASE, BASE.scaled(2)]
    branches: list[Branch] = []
    fit_nested(SPEC, ladder, train, seed=3, device="cpu", at_branch=branches.append)
    assert [b.budget.iterations for b in branches] == [10, 20]
    assert branches[0].own_iterations == 10 - BASE.decay_start and branches[1].own_iterations == 20
    for branch in branches:
        alone, log = fit_proxy(SPEC, branch.budget, train, seed=3, device="cpu")
        for a, b in zip(alone.state_dict().values(), branch.model.state_dict().values(), strict=True):
            assert torch.equal(a, b)
        assert torch.equal(torch.stack(log.losses), torch.stack(branch.log.losses))


def test_a_ladder_is_one_wsd_recipe():
    with pytest.raises(ValueError, match="one WSD recipe"):
        check_ladder([BASE, replace(BASE.scaled(2), peak_lr=1e-3)])
    with pytest.raises(ValueError, match="one WSD recipe"):
        check_ladder([replace(BASE, schedule="cosine")])
    assert [b.iterations for b in check_ladder([BASE.scaled(3), BASE])] == [10, 30]
