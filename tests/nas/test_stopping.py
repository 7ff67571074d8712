"""Stopping from the learning curve (``nas.search --stop-early``) on the tiny study, end to end."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from nas.analysis.promotion import goes_on
from nas.search.__main__ import main as search_main
from nas.search.new_architectures import trained
from nas.search.stopping import CurveStopper
from nas.study import keys
from nas.study.storage import storage_for


def test_the_check_is_the_first_validation_at_or_past_one_eta_of_the_run():
    assert CurveStopper(3).check_at(300) == 150  # validations at 75, 150, 225, 300
    assert CurveStopper(2).check_at(12) == 6
    assert CurveStopper(8).check_at(300) == 75
    assert CurveStopper(3).check_at(1) is None  # a one-step run has no validation before its end


def test_runs_stop_at_the_check_unless_they_rank_among_the_first_ceil_n_over_eta(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    argv = ["--study", "tiny", "--sampler", "random", "--stop-early", "--eta", "2", "--n-trials", "4"]
    assert search_main([*argv, "--storage", url, "--artifacts", str(tmp_path / "artifacts")]) == 0
    trials = optuna.load_study(study_name="tiny-random", storage=storage_for(url)).trials
    runs = [t for t in trials if trained(t)]
    assert len(runs) == 4  # a stopped run is a training: it counts against --n-trials
    check = keys.curve_at_key(6)  # tiny's proxy: 12 iterations, validated at 3, 6, 9, 12
    for k, t in enumerate(runs):  # one worker: the runs reached the check in this order
        losses = [(-r.user_attrs[check], r.user_attrs[keys.MACS_KEY], r.user_attrs[keys.PARAMS_KEY]) for r in runs]
        went_on = goes_on(losses[: k + 1], k, eta=2)
        assert (t.state == TrialState.COMPLETE) == went_on, (k, t.state)
        if not went_on:
            assert t.user_attrs[keys.STOPPED_AT] == 6 and [p[0] for p in t.user_attrs[keys.VAL_CURVE]] == [3, 6]
            assert t.user_attrs[keys.VAL_CURVE][-1][1] == t.user_attrs[check]
    assert runs[0].state == TrialState.COMPLETE
    assert any(t.state == TrialState.PRUNED for t in runs)  # tiny's 4 draws: at least one is ranked out
    assert "stopped at iteration 6: its learning curve ranked out" in capsys.readouterr().err
