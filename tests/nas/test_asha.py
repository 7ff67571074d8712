"""MO-ASHA: promotion picked from the storage by hand-made candidates, then real workers on one SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.analysis.promotion import promotion_order
from nas.search.asha import next_promotion, rung_psnr
from nas.search.halving import Rungs
from nas.study import keys
from nas.study.claims import Claims
from nas.study.optuna_adapter import engine_of
from nas.study.storage import storage_for
from tests import warm

ROOT = Path(__file__).resolve().parents[2]


def candidate(study: optuna.Study, spec_hash: str, psnr: float, macs: float, params: float) -> int:
    trial = study.ask()
    for key, value in {keys.SPEC_HASH: spec_hash, keys.MACS_KEY: macs, keys.PARAMS_KEY: params,
                       keys.rung_key(0): {"psnr": psnr, "iterations": 4}}.items():  # fmt: skip
        trial.set_user_attr(key, value)
    return trial.number


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_the_next_promotion_is_claimed_once(tmp_path: Path):
    storage = storage_for(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize", "minimize"])
    claims = Claims(engine_of(storage), "s")  # type: ignore[arg-type]
    ladder = Rungs(eta=2, rungs=1)
    best = candidate(study, "aa", 31.0, 2e9, 2e5)
    assert next_promotion(study, ladder, claims, set()) is None  # one finished rung 0: floor(1 / 2) = 0
    cheap = candidate(study, "bb", 30.0, 1e9, 1e5)  # rank 0 with best: crowding ties, then PSNR: best first
    candidate(study, "cc", 29.0, 3e9, 3e5)  # dominated
    candidate(study, "dd", 28.0, 4e9, 4e5)  # dominated
    taken: set[str] = set()
    first = next_promotion(study, ladder, claims, taken)
    assert first is not None and (first.trial.number, first.rung) == (best, 1)
    assert claims.holder("aa@r1") is not None
    second = next_promotion(study, ladder, claims, taken)  # floor(4 / 2) = 2 may go on: the cheap one next
    assert second is not None and second.trial.number == cheap
    assert next_promotion(study, ladder, claims, taken) is None  # both claimed; a third worker sees the claims
    assert next_promotion(study, ladder, claims, set()) is None


@pytest.mark.slow
def test_two_workers_share_the_ladder(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/study.db"
    cmd = [sys.executable, "-m", "nas.search", "--study", "tiny", "--sampler", "random", "--asha", "--eta", "2",
           "--n-trials", "2", "--storage", url, "--artifacts", str(tmp_path / "artifacts")]  # fmt: skip
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    workers = [warm.popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    trials = optuna.load_study(study_name="tiny-random", storage=storage_for(url)).trials
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials), [t.state for t in trials]
    started = [t for t in trials if rung_psnr(t, 0) is not None]
    complete = [t for t in started if t.state == TrialState.COMPLETE]
    assert len(started) == 4 and 1 <= len(complete) < 4
    # asynchronous: a candidate is promoted while in the top floor(n / eta) of the rung so far (later arrivals may
    # push it out, as in ASHA); the best of all by the promotion order is always among the promoted
    losses = [[-(rung_psnr(t, 0) or 0), t.user_attrs[keys.MACS_KEY], t.user_attrs[keys.PARAMS_KEY]] for t in started]
    assert started[promotion_order(losses)[0]].state == TrialState.COMPLETE
    assert len({t.user_attrs[keys.SPEC_HASH] for t in started}) == 4  # no architecture on the ladder twice
    for t in complete:  # climbed both rungs, the last at the full proxy
        assert rung_psnr(t, 1) == pytest.approx(t.values[0]) and t.user_attrs[keys.rung_key(1)]["iterations"] == 12
    for t in started:
        if t.state == TrialState.PRUNED:
            assert t.user_attrs[keys.STOPPED_AT_RUNG] == 0
    said = b"".join(err for _, err in outputs).decode()
    assert said.count("candidates started") == 2
