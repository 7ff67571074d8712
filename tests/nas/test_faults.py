"""Fault injection: SIGKILLs of real worker processes during trials, halving and fidelity, then the invariants.

Each round starts the plain commands on a fresh storage (loopback PostgreSQL with 3 workers, one SQLite file
with 2), waits until the chosen worker holds a RUNNING trial (read from the storage: its recorded PID), kills it
with SIGKILL after a random delay, and restarts it at once with the same command.  After every round:

- no trial is RUNNING or WAITING once the workers have restarted and finished;
- no architecture was trained twice (one COMPLETE, non-repeat trial per spec hash);
- every COMPLETE result seen after any kill is still there, with the same values;
- every named variant is COMPLETE in the end (a killed one is queued again);
- a killed ``--halving`` run's trials are failed by the next run, which completes;
- a killed ``nas.fidelity`` run resumes: every planned re-training recorded exactly once.

``MSNAS_FAULT_ROUNDS`` (default 1, ``make faults``: 5) sets the rounds per scenario and the kills per round;
the figures ``make faults`` prints go to BENCHMARKS.md (RELIABILITY).  PostgreSQL needs MSNAS_TEST_POSTGRES_URL
(``.ci/run`` starts a server); without it that scenario is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.study.storage import storage_for

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("MSNAS_FAULT_ROUNDS", "1"))
KILLS = ROUNDS  # per round
NAMED = {"ms", "ms3", "standard"}  # the tiny study's named variants
DEADLINE = 240.0  # seconds for one round's workers to finish after the last kill

pytestmark = pytest.mark.slow


@dataclass
class Fleet:
    """Worker processes of one command line; each killed one is replaced by the same command."""

    argv: list[str]
    folder: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)  # PIDs
    started: int = 0

    def start(self) -> subprocess.Popen[bytes]:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
        log = (self.folder / f"worker{self.started}.err").open("wb")
        self.started += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", *self.argv], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        return proc

    def kill_and_restart(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        self.killed.append(proc.pid)
        self.start()

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def finish(self, seconds: float = DEADLINE) -> None:
        deadline = time.monotonic() + seconds
        for p in self.procs:
            if p.pid in self.killed:
                continue
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker {p.pid} still running after {seconds} s: {self.tail(p)}")
            assert p.returncode == 0, self.tail(p)

    def tail(self, proc: subprocess.Popen[bytes]) -> str:
        logs = sorted(self.folder.glob("worker*.err"))
        return f"pid {proc.pid} exit {proc.returncode}:\n" + "\n".join(
            line for f in logs for line in f.read_text(errors="replace").splitlines()[-8:]
        )

    def stop_all(self) -> None:
        for p in self.live():
            p.kill()
            p.wait(timeout=30)


@pytest.fixture
def fleets() -> Iterator[list[Fleet]]:
    made: list[Fleet] = []
    yield made
    for f in made:
        f.stop_all()


def load(url: str, name: str = "tiny") -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage_for(url))
    except KeyError:
        return None


def running_of(url: str, pid: int, name: str = "tiny") -> list[int]:
    """Numbers of the RUNNING trials that the process ``pid`` recorded as its own."""
    try:
        study = load(url, name)
    except Exception:  # the storage's tables are being created by another worker
        return []
    if study is None:
        return []
    trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t.number for t in trials if t.user_attrs.get("worker_pid") == pid]


def kill_during_a_trial(fleet: Fleet, url: str, rng: random.Random, name: str = "tiny") -> bool:
    """SIGKILL a live worker while it holds a RUNNING trial (after a random delay), and restart it."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for proc in rng.sample(fleet.live(), len(fleet.live())):
            if running_of(url, proc.pid, name):
                time.sleep(rng.uniform(0.0, 1.5))
                if proc.poll() is None:
                    fleet.kill_and_restart(proc)
                    return True
        if not fleet.live():
            return False
        time.sleep(0.1)
    return False


def complete_values(url: str, name: str = "tiny") -> dict[int, list[float]]:
    study = load(url, name)
    trials = [] if study is None else study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return {t.number: list(t.values) for t in trials}


def check_invariants(url: str, kept: dict[int, list[float]], name: str = "tiny") -> optuna.Study:
    study = load(url, name)
    assert study is not None
    trials = study.get_trials(deepcopy=False)
    unfinished = {t.number: t.state.name for t in trials if not t.state.is_finished()}
    assert not unfinished, f"trials left RUNNING or WAITING after the workers restarted and finished: {unfinished}"
    trained = [t for t in trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
    hashes = [t.user_attrs["spec_hash"] for t in trained]
    assert len(hashes) == len(set(hashes)), f"an architecture trained twice: {sorted(hashes)}"
    now = {t.number: list(t.values) for t in trials if t.state == TrialState.COMPLETE}
    lost = {n: v for n, v in kept.items() if now.get(n) != v}
    assert not lost, f"COMPLETE results lost or changed: {lost}"
    return study


def search_round(fleets: list[Fleet], folder: Path, url: str, workers: int, seed: int) -> tuple[int, int]:
    """One round of killed and restarted ``nas.search`` workers; (kills landed, trials in the study)."""
    rng = random.Random(seed)
    argv = ["nas.search", "--study", "tiny", "--storage", url, "--n-trials", "5", "--seed", "0",
            "--artifacts", str(folder / "artifacts")]  # fmt: skip
    fleet = Fleet(argv, folder)
    fleets.append(fleet)
    for _ in range(workers):
        fleet.start()
    kept: dict[int, list[float]] = {}
    landed = 0
    for _ in range(KILLS):
        if not kill_during_a_trial(fleet, url, rng):
            break
        landed += 1
        kept.update(complete_values(url))
    fleet.finish()
    fleet.start()  # one more run after the dust settles: re-queues a named variant whose last trial was killed
    fleet.finish()
    study = check_invariants(url, kept)
    done = {t.user_attrs.get("preset") for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert done >= NAMED, f"named variants not COMPLETE in the end: {NAMED - done}"
    return landed, len(study.trials)


def report(scenario: str, kills: int, rounds: int, trials: int, seconds: float) -> None:
    line = f"faults: {scenario}: {kills} SIGKILLs in {rounds} round(s), {trials} trials, nothing lost, {seconds:.0f} s"
    print(line)
    (ROOT / "runs").mkdir(exist_ok=True)
    with (ROOT / "runs" / "faults.log").open("a") as log:
        log.write(line + "\n")


def test_sqlite_search_workers_killed(fleets: list[Fleet], tmp_path: Path) -> None:
    began, kills, trials = time.monotonic(), 0, 0
    for r in range(ROUNDS):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        landed, n = search_round(fleets, folder, f"sqlite:///{folder}/study.db", 2, seed=r)
        kills, trials = kills + landed, trials + n
    assert kills >= ROUNDS, "no kill landed during a trial"
    report("2 SQLite workers", kills, ROUNDS, trials, time.monotonic() - began)


def test_postgres_search_workers_killed(fleets: list[Fleet], tmp_path: Path, postgres_url: str) -> None:
    began, kills, trials = time.monotonic(), 0, 0
    for r in range(ROUNDS):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        if r:  # a fresh study per round: the last one is deleted, and its claims must not carry over
            study = load(postgres_url)
            assert study is not None
            optuna.delete_study(study_name="tiny", storage=storage_for(postgres_url))
        landed, n = search_round(fleets, folder, postgres_url, 3, seed=100 + r)
        kills, trials = kills + landed, trials + n
    assert kills >= ROUNDS, "no kill landed during a trial"
    report("3 PostgreSQL workers", kills, ROUNDS, trials, time.monotonic() - began)


def test_halving_killed_then_rerun(fleets: list[Fleet], tmp_path: Path) -> None:
    began, kills, trials = time.monotonic(), 0, 0
    for r in range(ROUNDS):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
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
        assert failed and all(t.user_attrs.get("worker_pid") == fleet.killed[0] for t in failed)
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
    keys = [t.user_attrs["key"] for t in companion.trials]
    assert len(keys) == len(set(keys)), "a re-training recorded twice"
    assert len(keys) == 3 * last, f"planned work missing: {len(keys)} recorded"
    assert kills >= 1, "no kill landed during a re-training"
    report("fidelity", kills, ROUNDS, len(keys), time.monotonic() - began)
