"""What every fault scenario shares: a fleet of worker processes of one command line, the wait for a RUNNING
trial, the invariants checked after every round and the line each scenario reports."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.study import keys
from nas.study.storage import storage_for
from tests import warm
from tests.nas.test_secrets import leaks, stored_text
from tests.nas.test_stops import Started
from tests.warm import Command

ROOT = Path(__file__).resolve().parents[3]
ROUNDS = int(os.environ.get("MSNAS_FAULT_ROUNDS", "1"))
KILLS = ROUNDS  # per round
NAMED = {"ms", "ms3", "standard"}  # the tiny study's named variants
DEADLINE = 240.0  # seconds for one round's workers to finish after the last kill
STOP_SECONDS = 30  # from a stop (SIGTERM, the launcher's death) to the process gone, on a busy CPU


@dataclass
class Fleet:
    """Worker processes of one command line; each killed one is replaced by the same command."""

    argv: list[str]
    folder: Path
    rerun: list[str] | None = None  # a restart's command line, where it differs (a launcher's: a single search)
    procs: list[Command] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)  # PIDs ended by a fault (not expected to exit 0)
    logs: dict[int, Path] = field(default_factory=dict)  # each process's stderr
    children: Started = field(default_factory=Started)  # a launcher's workers, killed at the end if still running
    started: int = 0

    def start(self, argv: list[str] | None = None) -> Command:
        env = {**os.environ, "PYTHONPATH": warm.pythonpath(), "OMP_NUM_THREADS": "1"}
        log = (self.folder / f"worker{self.started}.err").open("wb")
        self.started += 1
        proc = warm.popen(
            [sys.executable, "-m", *(argv or self.argv)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        self.logs[proc.pid] = Path(log.name)
        return proc

    def kill(self, proc: Command, signum: int = signal.SIGKILL) -> int:
        """Send ``signum`` and wait for the process to end; its exit code."""
        os.kill(proc.pid, signum)
        code = proc.wait(timeout=STOP_SECONDS)
        self.killed.append(proc.pid)
        return code

    def restart(self) -> Command:
        return self.start(self.rerun)

    def kill_and_restart(self, proc: Command) -> None:
        self.kill(proc)
        self.restart()

    def live(self) -> list[Command]:
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

    def tail(self, proc: Command) -> str:
        logs = sorted(self.folder.glob("worker*.err"))
        return f"pid {proc.pid} exit {proc.returncode}:\n" + "\n".join(
            line for f in logs for line in f.read_text(errors="replace").splitlines()[-8:]
        )

    def stop_all(self) -> None:
        for p in self.live():
            p.kill()
            p.wait(timeout=30)
        self.children.kill_left()


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
    return [t.number for t in trials if t.user_attrs.get(keys.WORKER_PID) == pid]


def in_a_trial(fleet: Fleet, url: str, rng: random.Random, name: str = "tiny") -> Command | None:
    """A live worker that holds a RUNNING trial, a random 0-1.5 s after it was seen to; None when none comes."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for proc in rng.sample(fleet.live(), len(fleet.live())):
            if running_of(url, proc.pid, name):
                time.sleep(rng.uniform(0.0, 1.5))
                if proc.poll() is None:
                    return proc
        if not fleet.live():
            return None
        time.sleep(0.1)
    return None


Fault = Callable[[Fleet, str, random.Random], bool]  # brings on one fault during a trial; whether it landed


def kill_during_a_trial(fleet: Fleet, url: str, rng: random.Random, name: str = "tiny") -> bool:
    """SIGKILL a live worker while it holds a RUNNING trial (after a random delay), and restart it."""
    proc = in_a_trial(fleet, url, rng, name)
    if proc is None:
        return False
    fleet.kill_and_restart(proc)
    return True


def trials_of_pids(url: str, pids: list[int]) -> list[optuna.trial.FrozenTrial]:
    study = load(url)
    assert study is not None
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(keys.WORKER_PID) in pids]


def stopped_cleanly(url: str, pids: list[int], reason: str) -> None:
    """The processes ``pids`` left no trial RUNNING: each one they failed says ``reason``."""
    trials = trials_of_pids(url, pids)
    assert trials, f"no trial of {pids}"
    unfinished = [t.number for t in trials if not t.state.is_finished()]
    assert not unfinished, f"trials left RUNNING by a stop: {unfinished}"
    failed = {t.user_attrs.get(keys.FAIL_REASON) for t in trials if t.state == TrialState.FAIL}
    assert failed <= {reason}, failed


def one_line_error(log: Path, start: str) -> None:
    """The process's last line starts with ``start``; it printed no other error line and no traceback."""
    lines = log.read_text().splitlines()
    assert lines and lines[-1].startswith(start), lines[-3:]
    assert [line for line in lines if ": error: " in line or "Traceback" in line] == [lines[-1]], lines


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
    trained = [t for t in trials if t.state == TrialState.COMPLETE and keys.DUPLICATE_OF not in t.user_attrs]
    hashes = [t.user_attrs[keys.SPEC_HASH] for t in trained]
    assert len(hashes) == len(set(hashes)), f"an architecture trained twice: {sorted(hashes)}"
    now = {t.number: list(t.values) for t in trials if t.state == TrialState.COMPLETE}
    lost = {n: v for n, v in kept.items() if now.get(n) != v}
    assert not lost, f"COMPLETE results lost or changed: {lost}"
    return study


def search_round(
    fleets: list[Fleet], folder: Path, url: str, workers: int, seed: int, fault: Fault = kill_during_a_trial,
    extra: tuple[str, ...] = (), n_trials: int = 5, rerun_extra: tuple[str, ...] | None = None,
) -> tuple[int, int]:  # fmt: skip
    """One round of ``nas.search`` workers (``extra`` flags) under ``fault``, each ended one restarted (with
    ``rerun_extra`` in place of ``extra`` where given); (faults landed, trials in the study)."""
    rng = random.Random(seed)
    argv = ["nas.search", "--study", "tiny", "--storage", url, "--n-trials", str(n_trials), "--seed", "0",
            "--artifacts", str(folder / "artifacts")]  # fmt: skip
    fleet = Fleet([*argv, *extra], folder, None if rerun_extra is None else [*argv, *rerun_extra])
    fleets.append(fleet)
    for _ in range(workers):
        fleet.start()
    kept: dict[int, list[float]] = {}
    landed = 0
    for _ in range(KILLS):
        if not fault(fleet, url, rng):
            break
        landed += 1
        kept.update(complete_values(url))
    fleet.finish()
    fleet.restart()  # one more run after the dust settles: re-queues a named variant whose last trial was killed
    fleet.finish()
    study = check_invariants(url, kept)
    done = {t.user_attrs.get(keys.PRESET) for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert done >= NAMED, f"named variants not COMPLETE in the end: {NAMED - done}"
    return landed, len(study.trials)


def no_secret(url: str, password: str, folder: Path) -> None:
    """``password`` is in no line the workers printed, no file they wrote and no attribute stored."""
    printed = "\n".join(log.read_text(errors="replace") for log in folder.glob("worker*.err"))
    assert leaks(printed, password) == [], printed[-3000:]
    files = [p for p in (folder / "artifacts").rglob("*") if p.is_file()]
    assert [str(p) for p in files if password.encode() in p.read_bytes()] == []
    assert leaks(stored_text(url), password) == []


def report(scenario: str, kills: int, rounds: int, trials: int, seconds: float, fault: str = "SIGKILLs") -> None:
    line = f"faults: {scenario}: {kills} {fault} in {rounds} round(s), {trials} trials, nothing lost, {seconds:.0f} s"
    print(line)
    path = Path(os.environ.get("MSNAS_FAULT_LOG", ROOT / "runs" / "faults.log"))
    path.parent.mkdir(exist_ok=True)
    with path.open("a") as log:
        log.write(line + "\n")


def rounds(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Each of the ``ROUNDS`` rounds: its number and a folder of its own."""
    for r in range(ROUNDS):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        yield r, folder
