"""A killed ``--halving`` run rerun, a killed ``nas.fidelity`` run resumed."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from nas.study import keys
from tests.nas.faults.fleet import (
    ROUNDS,
    Fleet,
    check_invariants,
    complete_values,
    kill_during_a_trial,
    load,
    report,
    rounds,
)

pytestmark = pytest.mark.slow


def test_halving_killed_then_rerun(fleets: list[Fleet], tmp_path: Path) -> None:
    began, kills, trials = time.monotonic(), 0, 0
    for r, folder in rounds(tmp_path):
        url = f"sqlite:///{folder}/study.db"
        argv = ["nas.search", "--study", "tiny", "--storage", url, "--halving", "--n-trials", "6", "--eta", "2",
                "--sampler", "random", "--seed", str(r), "--artifacts", str(folder / "artifacts")]  # fmt: skip
        fleet = Fleet(argv, folder)
        fleets.append(fleet)
        fleet.start()
        assert kill_during_a_trial(fleet, url, random.Random(r), "tiny-random"), "the kill did not land in a trial"
        kept = complete_values(url, "tiny-random")
        fleet.finish()
        study = check_invariants(url, kept, "tiny-random")
        failed = [t for t in study.trials if t.state == TrialState.FAIL]
        assert failed and all(t.user_attrs.get(keys.WORKER_PID) == fleet.killed[0] for t in failed)
        assert "failed at once, their worker on this machine is gone" in (folder / "worker1.err").read_text()
        kills, trials = kills + 1, trials + len(study.trials)
    report("halving", kills, ROUNDS, trials, time.monotonic() - began)


def test_fidelity_killed_then_resumed(fleets: list[Fleet], tiny_random_url: str, tmp_path: Path) -> None:
    began, kills = time.monotonic(), 0
    last = 2 + ROUNDS  # round r asks for seeds 0..2+r: each round adds one, new work for the kill to interrupt
    for r in range(ROUNDS):
        argv = ["nas.fidelity", "--study", "tiny-random", "--storage", tiny_random_url, "--k", "3",
                "--budget-x", "1", "--seeds", str(3 + r), "--device", "cpu"]  # fmt: skip
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        fleet = Fleet(argv, folder)
        fleets.append(fleet)
        proc = fleet.start()
        log = folder / "worker0.err"
        deadline = time.monotonic() + 90
        while "this worker trains" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(random.Random(r).uniform(0.5, 2.0))  # inside the first re-training (seconds each)
        if proc.poll() is None:
            fleet.kill_and_restart(proc)
            kills += 1
        fleet.finish()
    companion = load(tiny_random_url, "tiny-random.fidelity")
    assert companion is not None
    work = [t.user_attrs[keys.WORK_KEY] for t in companion.trials]
    assert len(work) == len(set(work)), "a re-training recorded twice"
    assert len(work) == 3 * last, f"planned work missing: {len(work)} recorded"
    assert kills >= 1, "no kill landed during a re-training"
    report("fidelity", kills, ROUNDS, len(work), time.monotonic() - began)
