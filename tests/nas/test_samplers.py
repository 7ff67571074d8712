"""nas.samplers: uniform over distinct architectures, without replacement, in memory and in the real search."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from nas.search.__main__ import main as search_main
from nas.search.samplers import NSGAIISampler, TPESampler, UniformPointSampler, distinct_points, random_sampler
from nas.search.suggest import spec_from_trial
from nas.study import keys
from nas.study.naming import stored_name
from nas.study.storage import storage_for
from space.choices import SpaceDef
from studies import STUDIES

TINY = STUDIES["tiny"].space
MS3 = STUDIES["ms3"].space
TINY_RANDOM = stored_name(STUDIES["tiny"], "random")


def drawn_hashes(space: SpaceDef, n: int, seed: int) -> list[str]:
    """The spec hashes of ``n`` trials of an in-memory study under the uniform sampler."""
    study = optuna.create_study(sampler=UniformPointSampler(distinct_points(space), seed=seed))

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(keys.SPEC_HASH, spec_from_trial(trial, space).spec_hash)
        return 0.0

    study.optimize(objective, n_trials=n)
    return [t.user_attrs[keys.SPEC_HASH] for t in study.trials]


# ---- the points ----


def test_distinct_points_of_the_ms3_and_tiny_spaces():
    points = distinct_points(MS3)
    assert len(points) == 15
    assert len({h for h, _ in points}) == 15
    assert len(distinct_points(TINY)) == 5
    for spec_hash, params in distinct_points(TINY):
        assert all(name.startswith("unit.") for name in params)
        assert spec_from_trial(optuna.trial.FixedTrial(params), TINY).spec_hash == spec_hash


def test_random_sampler_dispatch():
    assert isinstance(random_sampler(TINY, 0), UniformPointSampler)
    layerwise = random_sampler(STUDIES["layerwise"].space, 0)
    assert type(layerwise) is optuna.samplers.RandomSampler


def test_a_space_without_points_is_an_error():
    with pytest.raises(ValueError, match="no points"):
        UniformPointSampler([])


# ---- in memory: no training ----


def test_every_point_once_before_any_repeat():
    hashes = drawn_hashes(MS3, 16, seed=3)
    assert len(set(hashes[:15])) == 15
    assert hashes[15] in hashes[:15]


def test_the_seed_fixes_the_order():
    assert drawn_hashes(TINY, 5, seed=1) == drawn_hashes(TINY, 5, seed=1)
    orders = {tuple(drawn_hashes(TINY, 5, seed=s)) for s in range(4)}
    assert len(orders) > 1  # 4 seeds giving one order of 5 points has chance 1/120**3


def test_failed_trials_give_their_point_back():
    study = optuna.create_study(sampler=UniformPointSampler(distinct_points(TINY), seed=0))

    def fail(trial: optuna.Trial) -> float:
        spec_from_trial(trial, TINY)
        raise RuntimeError("no")

    study.optimize(fail, n_trials=1, catch=(RuntimeError,))
    failed = study.trials[0].params

    def draw(trial: optuna.Trial) -> float:
        spec_from_trial(trial, TINY)
        return 0.0

    study.optimize(draw, n_trials=5)
    complete = [t.params for t in study.trials if t.state == TrialState.COMPLETE]
    assert failed in complete
    assert len({tuple(sorted(p.items())) for p in complete}) == 5


# ---- the real search (``--sampler random``) ----


@pytest.fixture(scope="module")
def session_study(tiny_random_db: Path) -> optuna.Study:
    return optuna.load_study(study_name=TINY_RANDOM, storage=storage_for(f"sqlite:///{tiny_random_db}"))


def test_five_random_trials_draw_the_five_architectures_once(session_study: optuna.Study):
    trials = session_study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert len({t.user_attrs[keys.SPEC_HASH] for t in trials}) == 5
    assert not any(keys.DUPLICATE_OF in t.user_attrs for t in trials)


def test_a_random_study_queues_nothing(session_study: optuna.Study):
    assert not any(t.user_attrs.get(keys.QUEUED, False) for t in session_study.trials)
    presets = {t.user_attrs.get(keys.PRESET) for t in session_study.trials} - {None}
    assert presets == {"standard", "ms", "ms3"}  # named where drawn, never queued


def test_stored_name_and_attrs(session_study: optuna.Study):
    assert session_study.study_name == TINY_RANDOM
    assert session_study.user_attrs[keys.SAMPLER] == "random"
    assert session_study.user_attrs[keys.DEFINITION] == "tiny"


def test_a_sixth_trial_is_a_repeat_and_not_retrained(tiny_random_url: str, capsys: pytest.CaptureFixture[str]):
    argv = ["--study", "tiny", "--sampler", "random", "--n-trials", "1", "--device", "cpu"]
    assert search_main([*argv, "--storage", tiny_random_url]) == 0
    study = optuna.load_study(study_name=TINY_RANDOM, storage=storage_for(tiny_random_url))
    assert len(study.trials) == 6
    sixth = study.trials[5]
    original = study.trials[sixth.user_attrs[keys.DUPLICATE_OF]]
    assert sixth.user_attrs[keys.SPEC_HASH] == original.user_attrs[keys.SPEC_HASH]
    assert sixth.values == original.values
    assert "resumed" in capsys.readouterr().err


def test_an_extra_point_without_params_leaves_the_joint_search_space_as_it_was():
    """Optuna's own NSGA-II and multivariate TPE intersect every finished trial's params: one extra point (no params)
    empties their joint space and they fall back to independent random draws.  Ours leave it out."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    dist = {"a": optuna.distributions.CategoricalDistribution(["x", "y"]), "b": FloatDistribution(0.0, 1.0)}
    for a, b in (("x", 0.1), ("y", 0.7)):
        study.add_trial(optuna.trial.create_trial(params={"a": a, "b": b}, distributions=dist, values=[b, 1.0]))
    extra = optuna.trial.create_trial(values=[2.0, 0.5], user_attrs={keys.EXTRA_SPEC: "{}"})
    study.add_trial(extra)
    pending = study.trials[0]
    assert optuna.samplers.NSGAIISampler().infer_relative_search_space(study, pending) == {}
    assert optuna.samplers.TPESampler(multivariate=True).infer_relative_search_space(study, pending) == {}
    for ours in (NSGAIISampler(), TPESampler(multivariate=True)):
        assert ours.infer_relative_search_space(study, pending) == dist
        assert ours.infer_relative_search_space(study, study.trials[2]) == {}  # the extra point itself: nothing
