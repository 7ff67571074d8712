"""Zero-cost plans (issue 32): the scores a study's trials get stay within its share of the proxy training at any
budget, each kept score is computed as it always was, and --no-zero-cost records none."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
import torch

from nas.measure.zero_cost import PREFERENCE, ZC_NAMES, plan_for, worst_ratio, zero_cost_scores
from nas.search.__main__ import config_of, main, parse_args
from nas.study import keys
from nas.study.storage import storage_for
from studies import STUDIES
from studies.budget import ProxyBudget
from studies.files import StudyFileError, dumps, loads


def cut(budget: ProxyBudget, iterations: int) -> ProxyBudget:
    return dataclasses.replace(budget, iterations=iterations, warmup=min(budget.warmup, iterations))


@pytest.mark.parametrize("name", sorted(STUDIES))
@pytest.mark.parametrize("iterations", [None, 300, 30, 3, 1])
def test_every_study_plans_within_its_share_at_any_budget(name: str, iterations: int | None):
    definition = STUDIES[name]
    budget = definition.proxy_for("cpu")
    budget = budget if iterations is None else cut(budget, iterations)
    plan = plan_for(definition.space, budget, definition.zero_cost_share)
    assert set(plan.names) <= set(ZC_NAMES) and plan.share <= definition.zero_cost_share
    assert plan.as_dict()["names"] == list(plan.names)
    if name == "tiny" and iterations is None:
        assert plan.names == ZC_NAMES  # the tests of every record see each score


@pytest.mark.parametrize("name", sorted(set(STUDIES) - {"tiny"}))
def test_the_default_budget_keeps_every_score_and_a_cut_one_the_most_telling(name: str):
    definition = STUDIES[name]
    budget = definition.proxy_for("cpu")
    assert plan_for(definition.space, budget, 0.1).names == ZC_NAMES  # as before issue 32
    short = plan_for(definition.space, cut(budget, 30), 0.1).names
    assert 0 < len(short) < len(ZC_NAMES) and "synflow" in short  # first in PREFERENCE, and the cheapest
    assert plan_for(definition.space, cut(budget, 1), 0.1).names == ()
    assert plan_for(definition.space, budget, 0.0).names == ()


def test_a_layerwise_space_is_planned_for_its_dearest_mix():
    definition = STUDIES["layerwise"]
    budget = definition.proxy_for("cpu")
    uniform = dataclasses.replace(definition.space, layerwise=False)
    assert worst_ratio(definition.space, budget) > worst_ratio(uniform, budget) >= 1


def test_a_subset_of_scores_equals_the_same_scores_of_the_whole_set():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 3, padding=1))
    lr, hr = torch.rand(10, 3, 6, 6), torch.rand(10, 3, 6, 6)
    every = zero_cost_scores(net, lr, hr)
    for names in [("synflow",), ("snip",), ("synflow", "jacob_cov"), PREFERENCE[:3], ()]:
        some = zero_cost_scores(net, lr, hr, names)
        assert list(some) == [n for n in ZC_NAMES if n in names]
        assert some == pytest.approx({n: every[n] for n in names})
    with pytest.raises(ValueError, match=r"unknown zero-cost scores \['synflw'\]"):
        zero_cost_scores(net, lr, hr, ("synflw",))


def test_the_share_is_a_study_field_checked_and_dumped():
    text = dumps(dataclasses.replace(STUDIES["ms3"], zero_cost_share=0.05))
    assert "zero_cost_share = 0.05" in text and loads(text).zero_cost_share == 0.05
    with pytest.raises(StudyFileError, match=r"zero_cost_share: 20.0 \(allowed: 0\.\.10, times the proxy"):
        loads(text.replace("zero_cost_share = 0.05", "zero_cost_share = 20.0"))


def test_the_flag_reaches_the_search_configuration():
    assert config_of(parse_args(["--study", "tiny"])).zero_cost is True
    assert config_of(parse_args(["--study", "tiny", "--no-zero-cost"])).zero_cost is False


@pytest.mark.slow  # trains
def test_no_zero_cost_records_the_empty_plan_and_no_score(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/s.db"
    argv = ["--study", "tiny", "--storage", url, "--artifacts", str(tmp_path / "a"), "--n-trials", "1"]
    assert main([*argv, "--no-zero-cost"]) == 0
    study = optuna.load_study(study_name="tiny", storage=storage_for(url))
    (trial,) = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))  # the other named variants wait
    assert trial.user_attrs[keys.ZC_PLAN] == {"names": [], "share": 0.0, "limit": 0.0}
    assert keys.zc_keys(trial.user_attrs) == [] and keys.ZC_SECONDS not in trial.user_attrs
    assert keys.PSNR_KEY in trial.user_attrs  # trained all the same
