"""Facts written once (issue 30): the flags' defaults are the configurations', every PSNR comes from one formula,
and a stored record's values follow its study's objectives by name."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from nas.search.__main__ import config_of as search_config_of
from nas.search.__main__ import parse_args as search_args
from nas.search.proxy_attrs import objective_values
from nas.search.runner import SearchConfig
from nas.sr.metrics import psnr, psnr_of_mse
from nas.sr.region_scores import pooled_psnr, tile_psnr
from nas.train import config_of as train_config_of
from nas.train import parse_args as train_args
from nas.training.recipe import TrainConfig
from studies import STUDIES


def test_search_flags_default_to_the_configuration():
    assert search_config_of(search_args(["--study", "tiny"])) == SearchConfig("tiny")


def test_train_flags_default_to_the_configuration():
    assert train_config_of(train_args(["--arch", "spec.json"])) == TrainConfig("spec.json")


def test_trainings_and_drawing_seed():
    tiny = STUDIES["tiny"]
    assert SearchConfig("tiny").trainings(tiny) == tiny.n_trials
    assert SearchConfig("tiny", n_trials=2).trainings(tiny) == 2
    with pytest.raises(ValueError, match="--n-trials: must be positive, got 0"):
        SearchConfig("tiny", n_trials=0).trainings(tiny)
    assert SearchConfig("tiny", seed=3).drawing_seed == 3
    assert SearchConfig("tiny", seed=3, sampler_seed=7).drawing_seed == 7


def test_every_psnr_is_one_formula():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 255, (8, 8)), rng.uniform(0, 255, (8, 8))
    sse = float(np.sum((a - b) ** 2))
    assert psnr(a, b) == pytest.approx(pooled_psnr(sse, a.size), abs=1e-12)
    assert tile_psnr(np.array([sse, 0.0]), np.array([64, 64]))[0] == pytest.approx(psnr(a, b), abs=1e-12)
    assert math.isinf(tile_psnr(np.array([sse, 0.0]), np.array([64, 64]))[1])
    assert float(psnr_of_mse(255.0**2)) == 0.0 and math.isinf(psnr(a, a))


def test_values_follow_the_study_s_objectives_by_name():
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.set_metric_names(["params", "psnr"])
    assert objective_values(study, {"psnr": 30.5, "macs": 1e9, "params": 2e5}) == [2e5, 30.5]
