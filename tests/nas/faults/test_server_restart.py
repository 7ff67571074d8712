"""The tests' own PostgreSQL server restarted under 3 workers: every worker goes on."""

from __future__ import annotations

import contextlib
import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.nas.faults.fleet import (
    ROUNDS,
    Fault,
    Fleet,
    in_a_trial,
    no_secret,
    report,
    rounds,
    search_round,
)
from tests.nas.pgserver import Server

PASSWORD = "f@ult:%pw"  # the restart scenario's role's: an @, a : and a % in it
pytestmark = pytest.mark.slow


def restart_the_server(server: Server) -> Fault:
    """A fault that restarts ``server`` (``pg_ctl restart -m fast``: every connection dropped) during a trial."""

    def fault(fleet: Fleet, url: str, rng: random.Random) -> bool:
        if not every_worker_opened(fleet) or in_a_trial(fleet, url, rng) is None:
            return False
        server.restart()
        return True

    return fault


def every_worker_opened(fleet: Fleet, seconds: float = 90.0) -> bool:
    """Whether each worker has opened the storage (its log names the study) within ``seconds``.  The scenario is a
    restart under running workers: a worker that has never reached the server is refused at once, by design (it
    cannot be told from a wrong URL), and on a loaded machine one could still be starting when the first trial ran."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        logs = sorted(fleet.folder.glob("worker*.err"))
        if logs and all("study tiny (" in log.read_text(errors="replace") for log in logs):
            return True
        time.sleep(0.1)
    return False


def test_postgres_server_restarted_under_three_workers(
    fleets: list[Fleet], tmp_path: Path, private_postgres: Server
) -> None:
    """Every worker goes on through each restart (exit 0 in the end): nothing to restart but the server."""
    began, restarts, trials = time.monotonic(), 0, 0
    try:
        for r, folder in rounds(tmp_path):
            url = private_postgres.database(f"faults{r}", PASSWORD).render_as_string(hide_password=False)
            fault = restart_the_server(private_postgres)
            landed, n = search_round(fleets, folder, url, 3, seed=200 + r, fault=fault, n_trials=3)
            restarts, trials = restarts + landed, trials + n
            no_secret(url, PASSWORD, folder)
            assert not [line for f in folder.glob("worker*.err") for line in f.read_text().splitlines()
                        if "Traceback" in line or ": error: " in line]  # fmt: skip
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # a restart that failed half-way: it runs already
            private_postgres.start()
    assert restarts >= ROUNDS, "no restart landed during a trial"
    report("PostgreSQL restarted under 3 workers", restarts, ROUNDS, trials, time.monotonic() - began, "restarts")
