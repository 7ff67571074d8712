"""Stops that reach a process from outside: SIGTERM to a single search, SIGKILL of a ``--devices`` launcher."""

from __future__ import annotations

import random
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.nas.faults.fleet import (
    ROUNDS,
    STOP_SECONDS,
    Fleet,
    in_a_trial,
    report,
    rounds,
    running_of,
    search_round,
    stopped_cleanly,
)
from tests.nas.test_stops import gone_within, workers_of

pytestmark = pytest.mark.slow


def sigterm_during_a_trial(fleet: Fleet, url: str, rng: random.Random) -> bool:
    """SIGTERM to a search holding a RUNNING trial: exit 143 within seconds, the trial FAIL saying so; restart."""
    proc = in_a_trial(fleet, url, rng)
    if proc is None:
        return False
    assert fleet.kill(proc, signal.SIGTERM) == 143, fleet.tail(proc)
    lines = fleet.logs[proc.pid].read_text().splitlines()
    assert lines[-1].startswith("nas.search: stopped by SIGTERM; finished trials are saved"), lines[-3:]
    assert not [line for line in lines if "Traceback" in line], lines
    stopped_cleanly(url, [proc.pid], "stopped by SIGTERM")
    fleet.start()
    return True


def kill_the_launcher(fleet: Fleet, url: str, rng: random.Random) -> bool:
    """SIGKILL a ``--devices`` launcher while both its workers hold a RUNNING trial: the workers end within
    seconds and leave no trial RUNNING (each failed one says the launcher ended); go on with a single search (the
    fleet's rerun: the launcher's death is the fault, and its workers start cold, 3 s each)."""

    def both_train(launcher: int) -> list[int]:
        workers = workers_of(launcher)
        return workers if len(workers) == 2 and all(running_of(url, w) for w in workers) else []

    deadline = time.monotonic() + 90
    while not (launchers := [p for p in fleet.live() if both_train(p.pid)]):
        if not fleet.live() or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    launcher = launchers[0]
    workers = workers_of(launcher.pid)
    for pid in workers:
        fleet.children.append(pid)
    time.sleep(rng.uniform(0.0, 1.5))
    fleet.kill(launcher)
    gone_within(workers, STOP_SECONDS)
    stopped_cleanly(url, workers, f"stopped: its launcher (process {launcher.pid}) ended")
    fleet.restart()
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_devices_launcher_killed(fleets: list[Fleet], tmp_path: Path) -> None:
    began, kills, trials = time.monotonic(), 0, 0
    for r, folder in rounds(tmp_path):
        landed, n = search_round(fleets, folder, f"sqlite:///{folder}/study.db", 1, seed=300 + r,
                                 fault=kill_the_launcher, extra=("--devices", "cpu,cpu"), n_trials=4,
                                 rerun_extra=())  # fmt: skip
        kills, trials = kills + landed, trials + n
    assert kills >= ROUNDS, "no kill landed while both workers trained"
    report("`--devices cpu,cpu` launcher", kills, ROUNDS, trials, time.monotonic() - began)


def test_single_search_sigterm(fleets: list[Fleet], tmp_path: Path) -> None:
    began, stops, trials = time.monotonic(), 0, 0
    for r, folder in rounds(tmp_path):
        url = f"sqlite:///{folder}/study.db"
        landed, n = search_round(fleets, folder, url, 1, seed=400 + r, fault=sigterm_during_a_trial, n_trials=3)
        stops, trials = stops + landed, trials + n
    assert stops >= ROUNDS, "no SIGTERM landed during a trial"
    report("single search", stops, ROUNDS, trials, time.monotonic() - began, "SIGTERMs")
