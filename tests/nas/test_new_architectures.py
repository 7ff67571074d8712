"""The trial budget counts trainings: repeats and over-budget draws are free, a finite space is exhausted once."""

from __future__ import annotations

from dataclasses import replace

import optuna
from optuna.trial import TrialState, create_trial

from nas.search.new_architectures import NewArchitectures, space_points, trained, unevaluated
from nas.search.suggest import spec_from_trial
from nas.study import keys
from space import analytic_cost
from studies import STUDIES


def finished(spec_hash: str, duplicate_of: int | None = None, state: TrialState = TrialState.COMPLETE):
    attrs = {keys.SPEC_HASH: spec_hash, keys.MACS_KEY: 1, keys.PARAMS_KEY: 1, keys.PSNR_KEY: 30.0}
    if duplicate_of is not None:
        attrs[keys.DUPLICATE_OF] = duplicate_of
    values = [30.0, 1.0, 1.0] if state == TrialState.COMPLETE else None
    return create_trial(state=state, values=values, user_attrs=attrs)


def test_the_ms3_space_lists_its_15_architectures_and_each_params_build_its_spec():
    points = list(space_points(STUDIES["ms3"]) or [])
    hashes = {spec.spec_hash for _, spec in points}
    assert len(hashes) == 15
    for params, spec in points:
        assert spec_from_trial(optuna.trial.FixedTrial(params), STUDIES["ms3"].space).spec_hash == spec.spec_hash
    assert space_points(STUDIES["layerwise"]) is None  # 16 blocks of choices: not listed


def test_unevaluated_leaves_out_what_any_trial_holds_and_what_is_over_budget():
    definition = STUDIES["ms3"]
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    todo = unevaluated(study, definition, seed=0)
    assert todo is not None and len(todo) == 15
    assert unevaluated(study, definition, seed=0) == todo != unevaluated(study, definition, seed=1)  # seeded order
    first = spec_from_trial(optuna.trial.FixedTrial(todo[0]), definition.space)
    study.add_trial(finished(first.spec_hash, state=TrialState.FAIL))
    left = unevaluated(study, definition, seed=0)
    assert left is not None and len(left) == 14
    cheapest = min(analytic_cost(spec).macs for _, spec in space_points(definition) or [])
    tight = replace(definition, max_gmacs=cheapest / 1e9)
    assert [analytic_cost(spec_from_trial(optuna.trial.FixedTrial(p), definition.space)).macs
            for p in unevaluated(optuna.create_study(), tight, 0) or []] == [cheapest] * 2  # fmt: skip


class StuckSampler:
    """An objective whose sampler draws one architecture forever, except the trials queued for it; it trains
    nothing, but records what a search trial records (a repeat says whose result it copies)."""

    def __init__(self, definition, fail: tuple[int, ...] = ()) -> None:
        self.definition, self.fail, self.first = definition, fail, next(iter(space_points(definition) or []))[0]

    def __call__(self, trial: optuna.Trial) -> tuple[float, float, float]:
        queued = trial.user_attrs.get(keys.QUEUED)
        spec = spec_from_trial(trial if queued else optuna.trial.FixedTrial(self.first), self.definition.space)
        trial.set_user_attr(keys.SPEC_HASH, spec.spec_hash)
        if trial.number in self.fail:
            raise ValueError("a training that failed")
        done = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        earlier = [t for t in done if t.user_attrs[keys.SPEC_HASH] == spec.spec_hash]
        if earlier:
            trial.set_user_attr(keys.DUPLICATE_OF, earlier[0].number)
        return 30.0, float(analytic_cost(spec).macs), float(analytic_cost(spec).params)


def search(definition, total: int, fail: tuple[int, ...] = ()) -> tuple[optuna.Study, NewArchitectures]:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    counter = NewArchitectures(total, definition, seed=0)
    study.optimize(StuckSampler(definition, fail), n_trials=None, callbacks=[counter], catch=(ValueError,))
    return study, counter


def test_repeats_are_not_counted_a_failure_is_and_the_counter_stops_at_its_total(capsys):
    study, counter = search(STUDIES["tiny"], 3, fail=(1,))
    counted = [t.number for t in study.trials if trained(t)]
    assert counter.progress.done == 3 and counter.exhausted == ""
    assert counted[:2] == [0, 1] and study.trials[1].state == TrialState.FAIL
    assert all(keys.DUPLICATE_OF in t.user_attrs for t in study.trials if t.number not in counted)
    err = capsys.readouterr().err
    assert "[1/3] trial 0" in err and "[not counted] trial 2" in err and "[3/3]" in err


def test_a_stuck_sampler_gets_the_rest_of_a_finite_space_queued_then_stops(capsys):
    definition = STUDIES["tiny"]
    study, counter = search(definition, 100)
    hashes = [t.user_attrs[keys.SPEC_HASH] for t in study.trials if trained(t)]
    assert sorted(hashes) == sorted({spec.spec_hash for _, spec in space_points(definition) or []})  # all 5, once
    assert counter.progress.done == 5
    assert counter.exhausted == "every architecture of the space within the study's budget is evaluated"
    assert capsys.readouterr().err.count("queued an unevaluated one") == 4
