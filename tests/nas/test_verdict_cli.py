"""``nas.verdict`` end to end on the tiny study: a worker killed mid-training, two workers finishing the race,
nothing trained twice, the same verdict from the records alone."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.study import keys
from nas.study.storage import storage_for
from nas.verdict import main
from tests import warm
from tests.warm import Command

RACE = ["--study", "tiny", "--candidates", "standard,ms3", "--budgets", "1", "--min-seeds", "2", "--max-seeds", "2",
        "--device", "cpu"]  # fmt: skip
COMPANION = "tiny.fidelity"


def trials(url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=COMPANION, storage=storage_for(url)).get_trials(deepcopy=False)
    except KeyError:
        return []


def worker(url: str) -> Command:
    command = [sys.executable, "-m", "nas.verdict", *RACE, "--storage", url, "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return warm.popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_while_training(url: str, timeout: float = 60.0) -> int:
    """Start a worker, SIGKILL it once it has recorded one training and started another; its PID."""
    proc = worker(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [t.state for t in trials(url)]
        if states.count(TrialState.COMPLETE) >= 1 and TrialState.RUNNING in states:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return proc.pid
        if proc.poll() is not None:
            pytest.fail(f"the worker ended before it could be killed: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the worker never started a second training")


def verdict(url: str, *extra: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main([*RACE, "--storage", url, *extra]) == 0, err.getvalue()
    return out.getvalue()


@pytest.mark.slow  # three worker processes and five trainings: `make test` runs it, `make quick` does not
def test_a_killed_race_resumes_and_two_workers_share_it_without_training_twice(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    killed = kill_while_training(url)
    running = [t for t in trials(url) if t.state == TrialState.RUNNING]
    assert len(running) == 1 and running[0].user_attrs[keys.WORKER_PID] == killed
    lost = running[0].user_attrs[keys.CLAIMED_WORK]

    pair = [worker(url), worker(url)]
    for proc in pair:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    done = [t for t in trials(url) if t.state == TrialState.COMPLETE]
    work = [t.user_attrs[keys.WORK_KEY] for t in done]
    assert len(work) == 4 and len(set(work)) == 4, [w[:22] for w in work]  # 2 candidates x 2 seeds, once each
    assert lost in work  # the killed worker's training was taken over
    failed = next(t for t in trials(url) if t.number == running[0].number)
    # failed as the workers started, not when a plan needed its work (that one says "ended while it trained")
    reason = f"worker process {killed} on {socket.gethostname()} ended while the trial was running"
    assert failed.state == TrialState.FAIL and failed.user_attrs[keys.FAIL_REASON] == reason
    assert not [t for t in trials(url) if t.state == TrialState.RUNNING]

    report = verdict(url, "--report-only", "--out", str(tmp_path / "out"))
    assert "trainings: 4 runs" in report and "0 trained by this worker" in report
    assert "ROPE +-0.05 dB" in report and "stopped:" in report
    data = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert data["rope_db"] == 0.05 and data["trainings"]["runs"] == 4
    assert [p["a_name"] + "/" + p["b_name"] for p in data["pairs"]] == ["standard/ms3"]
    assert verdict(url, "--report-only").splitlines()[:-1] == report.splitlines()[:-2]  # the same verdict again
    fewer = verdict(url, "--report-only", "--min-seeds", "1", "--max-seeds", "1")  # the race's seed 1 unread: said
    assert fewer.splitlines()[1].startswith("not read: 2 recorded run(s) at seed 1 or above")


def test_candidates_by_name_hash_prefix_or_group():
    from nas.errors import InputError
    from nas.search.entrants import choose
    from studies import STUDIES

    tiny = STUDIES["tiny"]
    named = [e.candidate.name for e in choose(["named"], tiny, [])]
    assert set(named) == {"standard", "ms", "ms3"}
    ms3 = next(e for e in choose(["named"], tiny, []) if e.candidate.name == "ms3")
    picked = choose([ms3.candidate.arch[:6], "standard"], tiny, [])
    assert [e.candidate.name for e in picked] == ["ms3", "standard"]
    assert ms3.candidate.costs["macs"] > 0 and ms3.candidate.costs["params"] > 0
    with pytest.raises(InputError, match="matches none of the candidates"):
        choose(["nonesuch", "ms3"], tiny, [])
    with pytest.raises(InputError, match="a race needs 2 or more"):
        choose(["ms3"], tiny, [])


def test_a_report_of_a_storage_or_study_that_does_not_exist_is_refused_and_makes_nothing(tmp_path: Path):
    missing = tmp_path / "none.db"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([*RACE, "--storage", f"sqlite:///{missing}", "--report-only"]) != 0
    assert err.getvalue().strip().endswith(f"no such SQLite file: {missing}") and not missing.exists()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(study_name="other", storage=storage_for(other))
    with contextlib.redirect_stderr(err):
        assert main([*RACE, "--storage", other, "--report-only"]) != 0
    assert "no study 'tiny'" in err.getvalue().splitlines()[-1], err.getvalue()
