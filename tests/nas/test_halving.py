"""nas.halving: promotion and the budget ladder by hand, then a real halving search of the tiny space."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace

import optuna
import pytest
from optuna.trial import TrialState

from nas.search.__main__ import main as search_main
from nas.search.halving import Rungs, promote
from nas.study import keys
from nas.study.naming import stored_name
from nas.study.storage import storage_for
from studies import STUDIES, register

NAME = stored_name(STUDIES["tiny"], "random")
FULL = STUDIES["tiny"].cpu_proxy.iterations  # the search runs on the CPU
HALVING = ["--study", "tiny", "--sampler", "random", "--halving", "--device", "cpu"]


# ---- promote ----


def test_promote_keeps_the_best_of_each_mac_group():
    macs = [1, 2, 3, 4, 5, 6]
    psnr = [30.0, 32.0, 31.0, 29.0, 28.0, 33.0]
    assert promote(macs, psnr, eta=3, groups=2) == [1, 5]  # groups {0, 1, 2} and {3, 4, 5}
    assert promote(macs, psnr, eta=2, groups=2) == [1, 2, 3, 5]  # ceil(3/2) = 2 per group
    assert promote(macs, psnr, eta=2, groups=1) == [1, 2, 5]
    assert promote(macs, psnr, eta=3, groups=6) == [0, 1, 2, 3, 4, 5]  # one a group: every one goes on


def test_promote_groups_by_macs_not_by_position():
    macs = [6, 1, 5, 2, 4, 3]
    psnr = [33.0, 30.0, 28.0, 32.0, 29.0, 31.0]
    # MAC order: 1 (30), 3 (32), 5 (31) | 4 (29), 2 (28), 0 (33)
    assert promote(macs, psnr, eta=3, groups=2) == [0, 3]


def test_promote_ties():
    assert promote([1, 2], [30.0, 30.0], eta=2, groups=1) == [0]  # equal PSNR: the cheaper one
    assert promote([2, 1], [30.0, 30.0], eta=2, groups=1) == [1]
    assert promote([1, 1, 1], [29.0, 30.0, 30.0], eta=3, groups=1) == [1]  # equal MACs keep their order
    assert promote([5], [20.0], eta=3, groups=4) == [0]
    assert promote([], [], eta=3, groups=1) == []


def test_uneven_groups():
    # 5 candidates in 3 groups: sizes 2, 2, 1; ceil(size / 2) each
    assert promote([1, 2, 3, 4, 5], [30.0, 31.0, 33.0, 32.0, 29.0], eta=2, groups=3) == [1, 2, 4]


# ---- the ladder ----


def test_rungs_cost_and_factors():
    assert Rungs(3, 1).cost(9) == pytest.approx(6.0)  # 9 at 1/3, then 3 at 1
    assert Rungs(2, 2).cost(8) == pytest.approx(6.0)  # 8 at 1/4, 4 at 1/2, 2 at 1
    assert [Rungs(3, 2).factor(r) for r in range(3)] == pytest.approx([1 / 9, 1 / 3, 1.0])
    assert Rungs(2, 1).factor(1) == 1.0
    assert [Rungs(3, 1).groups(n) for n in (0, 1, 3, 4, 9)] == [1, 1, 1, 2, 3]


@pytest.mark.parametrize(("eta", "rungs"), [(1, 1), (0, 1), (3, 0), (2, -1)])
def test_bad_ladders_raise(eta: int, rungs: int):
    with pytest.raises(ValueError, match="eta must be >= 2 and rungs >= 1"):
        Rungs(eta, rungs)


def test_bad_ladder_on_the_command_line(tmp_path, capsys: pytest.CaptureFixture[str]):
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    assert search_main([*HALVING, "--storage", url, "--n-trials", "2", "--eta", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nas.search: error: --eta must be >= 2 and --rungs >= 1 (got 1, 1)"]
    assert not (tmp_path / "bad.db").exists()  # rejected before any storage is opened


@pytest.mark.slow
def test_no_candidate_left_is_not_an_error(tmp_path, capsys: pytest.CaptureFixture[str]):
    """Every asked trial over budget (or a repeat): nothing to halve, no training, exit 0."""
    name = "tiny-halving-over-budget"
    register(replace(STUDIES["tiny"], name=name, max_gmacs=0.1))  # every tiny network is over 0.2 G MACs
    try:
        url = f"sqlite:///{tmp_path / 'over.db'}"
        argv = ["--study", name, "--sampler", "random", "--halving", "--n-trials", "2", "--device", "cpu"]
        assert search_main([*argv, "--storage", url]) == 0
    finally:
        STUDIES.pop(name)
    study = optuna.load_study(study_name=f"{name}-random", storage=storage_for(url))
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert all(t.user_attrs[keys.REJECTED].startswith("over budget") for t in study.trials)
    assert "halving: done: 0.00 full proxy runs spent" in capsys.readouterr().err


# ---- a real halving search ----


@pytest.fixture(scope="module")
def halved(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, str]:
    """5 candidates, eta 2, one rung below the proxy: 3 MAC groups, so 3 go on to the full proxy."""
    url = f"sqlite:///{tmp_path_factory.mktemp('halving') / 'study.db'}"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert search_main([*HALVING, "--storage", url, "--n-trials", "5", "--eta", "2", "--rungs", "1"]) == 0
    return optuna.load_study(study_name=NAME, storage=storage_for(url)), err.getvalue()


def states(study: optuna.Study, state: TrialState) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if t.state == state]


@pytest.mark.slow
def test_every_candidate_is_complete_or_pruned(halved: tuple[optuna.Study, str]):
    study, _ = halved
    assert len(study.trials) == 5
    complete, pruned = states(study, TrialState.COMPLETE), states(study, TrialState.PRUNED)
    assert len(complete) + len(pruned) == 5
    assert (len(complete), len(pruned)) == (3, 2)
    assert len({t.user_attrs[keys.SPEC_HASH] for t in study.trials}) == 5  # the random sampler's 5 distinct points


@pytest.mark.slow
def test_pruned_trials_stopped_at_rung_zero_with_its_result(halved: tuple[optuna.Study, str]):
    for t in states(halved[0], TrialState.PRUNED):
        assert t.user_attrs[keys.STOPPED_AT_RUNG] == 0
        assert t.user_attrs[keys.rung_key(0)]["iterations"] == FULL // 2
        assert keys.PSNR_KEY not in t.user_attrs and t.values is None


@pytest.mark.slow
def test_complete_trials_carry_the_rung_and_the_full_proxy(halved: tuple[optuna.Study, str]):
    for t in states(halved[0], TrialState.COMPLETE):
        a = t.user_attrs
        assert a["rung_0"]["iterations"] == FULL // 2
        assert a["proxy"]["iterations"] == FULL == STUDIES["tiny"].cpu_proxy.iterations
        assert t.values is not None and t.values[0] == a["psnr"]
        assert {"spec", "spec_hash", "macs", "params", "ssim", "train_seconds", "seed", "versions"} <= set(a)
        assert "stopped_at_rung" not in a


@pytest.mark.slow
def test_survivors_are_those_promote_picks(halved: tuple[optuna.Study, str]):
    study, _ = halved
    macs = [t.user_attrs[keys.MACS_KEY] for t in study.trials]
    rung0 = [t.user_attrs[keys.rung_key(0)]["psnr"] for t in study.trials]
    complete = [t.number for t in states(study, TrialState.COMPLETE)]
    assert complete == promote(macs, rung0, eta=2, groups=Rungs(2, 1).groups(5))


@pytest.mark.slow
def test_progress_and_spend(halved: tuple[optuna.Study, str]):
    err = halved[1]
    assert f"halving: rung 0: 5 candidates at {FULL // 2} iterations" in err
    assert f"halving: rung 1: 3 candidates at {FULL} iterations" in err
    assert "halving: done: 5.50 full proxy runs spent" in err  # 5 at 1/2, 3 at 1
    study = halved[0]
    for t in study.trials:  # one line per candidate and rung, with its PSNR
        assert f"halving: rung 0 [{t.number + 1}/5] trial {t.number} " in err
    assert sum("halving: rung 1 [" in line for line in err.splitlines()) == 3


def test_timeout_is_refused_with_halving(tmp_path, capsys: pytest.CaptureFixture[str]):
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    assert search_main([*HALVING, "--storage", url, "--n-trials", "2", "--timeout", "5"]) == 2
    assert "--timeout: not supported with --halving" in capsys.readouterr().err
    assert not (tmp_path / "bad.db").exists()
