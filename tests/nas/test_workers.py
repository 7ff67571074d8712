"""Many worker processes share one study, for real: 3 on PostgreSQL, 2 on one SQLite file, and a SIGKILLed run.

Each worker is the plain command ``python -m nas.search --study tiny --storage URL ...`` started at the same
moment, on a storage that does not exist yet, so the workers also race to create its tables and the study.
The PostgreSQL test needs a server: ``.ci/run`` starts one with ``.ci/postgres.sh`` and exports
MSNAS_TEST_POSTGRES_URL; without that variable the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import optuna
import pytest

from nas.study import keys
from nas.study.storage import storage_for
from tests import warm
from tests.warm import Command

ROOT = Path(__file__).resolve().parents[2]
NAMED = ["ms", "ms3", "standard"]  # the paper variants that lie in the tiny study's space, queued at creation
WAIT_SECONDS = 150  # for all the workers of one test together
FINISHED_OK = {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
PROGRESS = re.compile(r"^\[(?:\d+/\d+|not counted)\] trial (\d+) ", re.MULTILINE)  # nas.search's line per trial
COUNTED = re.compile(r"^\[\d+/\d+\] trial \d+ ", re.MULTILINE)  # ... for a trial that trained
SUMMARY = re.compile(r"^tiny: (\d+) trials ", re.MULTILINE)  # its summary: the study as the worker last saw it

pytestmark = pytest.mark.slow


@dataclass
class Worker:
    """One ``nas.search`` process and the files its stdout and stderr go to."""

    proc: Command
    out: Path
    err: Path
    files: tuple[IO[bytes], IO[bytes]]

    def text(self) -> tuple[str, str]:
        """Its stdout and stderr so far."""
        return self.out.read_text(errors="replace"), self.err.read_text(errors="replace")

    def describe(self) -> str:
        """Exit code and the tail of its stderr, for assertion messages."""
        return f"pid {self.proc.pid} exit {self.proc.returncode}:\n" + "\n".join(self.text()[1].splitlines()[-15:])


Launch = Callable[..., Worker]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start ``nas.search`` workers on the tiny study; any still alive at teardown is killed."""
    started: list[Worker] = []

    def start(storage: str, n_trials: int, env: dict[str, str] | None = None) -> Worker:
        k = len(started)
        out, err = tmp_path / f"worker{k}.out", tmp_path / f"worker{k}.err"
        files = (out.open("wb"), err.open("wb"))
        cmd = [
            sys.executable,
            "-m",
            "nas.search",
            "--study",
            "tiny",
            "--storage",
            storage,
            "--n-trials",
            str(n_trials),
            "--seed",
            "0",
            "--artifacts",
            str(tmp_path / "artifacts"),
        ]
        # one thread each: the workers share the machine's cores, and this is about the storage, not speed
        full_env = {**os.environ, "PYTHONPATH": warm.pythonpath(), "OMP_NUM_THREADS": "1", **(env or {})}
        proc = warm.popen(cmd, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL, stdout=files[0], stderr=files[1])
        started.append(Worker(proc, out, err, files))
        return started[-1]

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait(timeout=30)
        for f in w.files:
            f.close()


def wait_all(workers: list[Worker], seconds: float = WAIT_SECONDS) -> None:
    """Wait for every worker to exit, within one shared deadline, and require exit code 0."""
    deadline = time.monotonic() + seconds
    for w in workers:
        try:
            w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker still running after {seconds} s: {w.describe()}")
    failed = [w.describe() for w in workers if w.proc.returncode != 0]
    assert not failed, "\n\n".join(failed)


def check_shared_study(url: str, workers: list[Worker], n_trials: int) -> None:
    """The study that the workers built together: every trial once, finished, numbered, seen by all, and
    every architecture trained once (the tiny space has 5: more trainings than that end the runs early)."""
    study = optuna.load_study(study_name="tiny", storage=storage_for(url))
    trials = study.get_trials(deepcopy=False)

    states = {t.number: t.state.name for t in trials if t.state not in FINISHED_OK}
    assert not states, f"trials not finished well (FAIL, or left RUNNING/WAITING): {states}"
    assert sorted(t.number for t in trials) == list(range(len(trials))), "trial numbers not unique and contiguous"

    # The named variants were queued once, by whichever worker created the study, and each ran once.
    queued = sorted(t.user_attrs.get(keys.PRESET, "?") for t in trials if keys.PRESET in t.user_attrs and
                    t.user_attrs.get(keys.QUEUED, False))  # fmt: skip
    assert queued == NAMED

    # No trial (queued ones included) ran in two workers, none is missing, and no worker trained more than
    # its n_trials; a repeat (answered from storage, or by waiting for the worker that trains it) is free.
    ran = [[int(n) for n in PROGRESS.findall(w.text()[1])] for w in workers]
    flat = [n for r in ran for n in r]
    assert sorted(flat) == list(range(len(trials))), f"a trial ran in two workers, or one is missing: {ran}"
    counted = [len(COUNTED.findall(w.text()[1])) for w in workers]
    assert all(c <= n_trials for c in counted), f"trainings each worker counted: {counted}"

    # Every architecture was trained exactly once, by one trial that held its claim: never twice, not even
    # by two workers that drew it at the same moment; every other trial of it copies that result.
    trained = [
        t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and keys.DUPLICATE_OF not in t.user_attrs
    ]
    hashes = [t.user_attrs[keys.SPEC_HASH] for t in trained]
    assert len(hashes) == len(set(hashes)), f"an architecture trained twice: {sorted(hashes)}"
    assert len(trained) == min(5, len(workers) * n_trials) == sum(counted)
    by_number = {t.number: t for t in trials}
    for t in trials:
        if keys.DUPLICATE_OF in t.user_attrs:
            earlier = by_number[t.user_attrs[keys.DUPLICATE_OF]]
            assert earlier.user_attrs[keys.SPEC_HASH] == t.user_attrs[keys.SPEC_HASH] and earlier.values == t.values

    # Workers see each other's trials: the last to finish counted all of them.
    seen = [int(m) for w in workers for m in SUMMARY.findall(w.text()[0])]
    assert len(seen) == len(workers) and max(seen) == len(trials), f"study sizes the workers reported: {seen}"


# postgres_url comes before launch, so the workers are killed before the schema is dropped
def test_three_workers_share_one_postgres_study(postgres_url: str, launch: Launch) -> None:
    """Three processes, one PostgreSQL URL, up to 3 trainings each: the space's 5 architectures, each once."""
    workers = [launch(postgres_url, 3) for _ in range(3)]
    wait_all(workers)
    check_shared_study(postgres_url, workers, 3)


def test_two_workers_share_one_sqlite_file(tmp_path: Path, launch: Launch) -> None:
    """Two processes on one SQLite file, up to 3 trainings each: the same guarantees as on PostgreSQL."""
    url = f"sqlite:///{tmp_path}/study.db"
    workers = [launch(url, 3) for _ in range(2)]
    wait_all(workers)
    check_shared_study(url, workers, 3)


def running_with_heartbeat(db: Path) -> list[int]:
    """Numbers of the RUNNING trials whose worker has recorded a heartbeat (read straight from the file)."""
    if not db.exists():
        return []
    query = "SELECT t.number FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id WHERE t.state = 'RUNNING'"
    conn = sqlite3.connect(db, timeout=5)
    try:
        return [n for (n,) in conn.execute(query)]
    except sqlite3.OperationalError:  # the tables are not there yet
        return []
    finally:
        conn.close()


def test_killed_run_leaves_no_trial_running_after_the_next_run_starts(tmp_path: Path, launch: Launch) -> None:
    """SIGKILL mid-trial leaves it RUNNING; the next run fails it (heartbeats 1 s, grace 2 s) and goes on."""
    db = tmp_path / "study.db"
    url = f"sqlite:///{db}"
    beat = {"MSNAS_HEARTBEAT_SECONDS": "1", "MSNAS_GRACE_SECONDS": "2"}
    first = launch(url, 20, beat)
    deadline = time.monotonic() + 90
    while not (running := running_with_heartbeat(db)):
        assert first.proc.poll() is None, f"the run ended before a trial was seen running: {first.describe()}"
        assert time.monotonic() < deadline, "no trial was seen running within 90 s"
        time.sleep(0.05)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=30)
    study = optuna.load_study(study_name="tiny", storage=storage_for(url))
    stuck = [t.number for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))]
    assert stuck == running, f"seen running {running}, left running after the kill {stuck}"

    time.sleep(2 + 2)  # the grace period, and SQLite's timestamps have whole seconds
    # the kill may hit any of the 3 named variants queued at creation; the killed one is queued again, so
    # 3 trials always reach every queued trial (a shorter run would leave a queued variant WAITING, as it should)
    second = launch(url, 3, beat)
    wait_all([second], 90)
    trials = optuna.load_study(study_name="tiny", storage=storage_for(url)).get_trials()
    assert not [t.number for t in trials if not t.state.is_finished()], "a trial is still RUNNING or WAITING"
    assert trials[stuck[0]].state == optuna.trial.TrialState.FAIL, "the killed trial"
    others = {t.number: t.state.name for t in trials if t.number != stuck[0] and t.state not in FINISHED_OK}
    assert not others, f"trials other than the killed one that did not finish well: {others}"
    err = second.text()[1]
    assert "(resumed)" in err and len(COUNTED.findall(err)) == 3, err
    # failed at once by its PID, which the trial records from the moment it is RUNNING (nas.study.owners)
    assert f"failed at once, their worker on this machine is gone: trials {stuck}" in err, err
    killed_name = trials[stuck[0]].user_attrs.get(keys.PRESET)
    if killed_name is not None:
        assert f"queued again (their trials failed): {killed_name}" in err, err
