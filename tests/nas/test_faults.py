"""Fault injection: real processes of the plain commands on the tiny study, faults while they train, then the
invariants.

Each round starts the commands on a fresh storage, waits until a worker holds a RUNNING trial (read from the
storage: its recorded PID), brings on the fault after a random delay, and restarts what it ended with the same
command.  The faults (issues 10 and 31):

- SIGKILL of a worker: 2 on one SQLite file, 3 on PostgreSQL, a ``--halving`` run, a ``nas.fidelity`` run;
- a PostgreSQL server restarted under 3 workers (the tests' own server): every worker goes on;
- SIGKILL of a ``--devices cpu,cpu`` launcher: its workers end within seconds, their trials FAIL saying why;
- SIGTERM to a single search: exit 143, its trial FAIL with the reason;
- the storage's disk filled (a small tmpfs of the test's own): one line, exit 2, and the next run goes on;
- the storage's disk read-only when a search starts (the tmpfs remounted; a file open for writing keeps a
  mount from going read-only, so not mid-run): one line, exit 2, the file unchanged.

After every round:

- no trial is RUNNING or WAITING once the workers have restarted and finished;
- no architecture was trained twice (one COMPLETE, non-repeat trial per spec hash);
- every COMPLETE result seen after any fault is still there, with the same values;
- every named variant is COMPLETE in the end (a killed one is queued again);
- on PostgreSQL, the URL's password is in no line a worker printed, no artifact and no stored attribute;
- a killed ``--halving`` run's trials are failed by the next run, which completes;
- a killed ``nas.fidelity`` run resumes: every planned re-training recorded exactly once.

``MSNAS_FAULT_ROUNDS`` (default 1, ``ROUNDS=3 make faults``) sets the rounds per scenario and the faults per round;
the figures ``make faults`` prints (also appended to runs/faults.log, or to MSNAS_FAULT_LOG) go to BENCHMARKS.md
(Reliability), whose table says what is promised for each fault and which tests check it.  PostgreSQL needs
MSNAS_TEST_POSTGRES_URL (``.ci/run`` starts a server) or the PostgreSQL server programs (the restart scenario's own
server); without them a scenario is skipped, except under CI, where it fails.  The disk scenarios need a tmpfs
mount (root); without one they are skipped (``tests/nas/test_storage_faults.py`` makes a full and a read-only
SQLite file without).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from nas.study import keys
from nas.study.storage import storage_for
from tests.nas.pgserver import Server
from tests.nas.test_secrets import leaks, stored_text
from tests.nas.test_stops import Started, gone_within, workers_of
from tests.nas.test_storage_faults import FULL, READ_ONLY, leftovers

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("MSNAS_FAULT_ROUNDS", "1"))
KILLS = ROUNDS  # per round
NAMED = {"ms", "ms3", "standard"}  # the tiny study's named variants
DEADLINE = 240.0  # seconds for one round's workers to finish after the last kill
STOP_SECONDS = 30  # from a stop (SIGTERM, the launcher's death) to the process gone, on a busy CPU
PASSWORD = "f@ult:%pw"  # the restart scenario's role's: an @, a : and a % in it

pytestmark = pytest.mark.slow


@dataclass
class Fleet:
    """Worker processes of one command line; each killed one is replaced by the same command."""

    argv: list[str]
    folder: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)  # PIDs ended by a fault (not expected to exit 0)
    logs: dict[int, Path] = field(default_factory=dict)  # each process's stderr
    children: Started = field(default_factory=Started)  # a launcher's workers, killed at the end if still running
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
        self.logs[proc.pid] = Path(log.name)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], signum: int = signal.SIGKILL) -> int:
        """Send ``signum`` and wait for the process to end; its exit code."""
        os.kill(proc.pid, signum)
        code = proc.wait(timeout=STOP_SECONDS)
        self.killed.append(proc.pid)
        return code

    def kill_and_restart(self, proc: subprocess.Popen[bytes]) -> None:
        self.kill(proc)
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
        self.children.kill_left()


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


def in_a_trial(fleet: Fleet, url: str, rng: random.Random, name: str = "tiny") -> subprocess.Popen[bytes] | None:
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
    seconds and leave no trial RUNNING (each failed one says the launcher ended); restart the launcher."""

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
    fleet.start()
    return True


def restart_the_server(server: Server) -> Fault:
    """A fault that restarts ``server`` (``pg_ctl restart -m fast``: every connection dropped) during a trial."""

    def fault(fleet: Fleet, url: str, rng: random.Random) -> bool:
        if in_a_trial(fleet, url, rng) is None:
            return False
        server.restart()
        return True

    return fault


def fill_the_disk(disk: Path) -> Fault:
    """A fault that fills ``disk`` during a trial: the worker ends in one line, exit 2; the disk is freed and the
    worker started again."""

    def fault(fleet: Fleet, url: str, rng: random.Random) -> bool:
        proc = in_a_trial(fleet, url, rng)
        if proc is None:
            return False
        filler = fill(disk)
        try:
            code = proc.wait(timeout=DEADLINE)
        finally:
            filler.unlink()
        fleet.killed.append(proc.pid)
        assert code == 2, fleet.tail(proc)
        one_line_error(fleet.logs[proc.pid], f"nas.search: error: {FULL}")
        fleet.start()
        return True

    return fault


def fill(disk: Path) -> Path:
    """A file that takes every free byte of ``disk``."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        while True:
            os.write(fd, bytes(1 << 16))
    except OSError as err:
        assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return filler


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
    trained = [t for t in trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
    hashes = [t.user_attrs["spec_hash"] for t in trained]
    assert len(hashes) == len(set(hashes)), f"an architecture trained twice: {sorted(hashes)}"
    now = {t.number: list(t.values) for t in trials if t.state == TrialState.COMPLETE}
    lost = {n: v for n, v in kept.items() if now.get(n) != v}
    assert not lost, f"COMPLETE results lost or changed: {lost}"
    return study


def search_round(
    fleets: list[Fleet], folder: Path, url: str, workers: int, seed: int, fault: Fault = kill_during_a_trial,
    extra: tuple[str, ...] = (), n_trials: int = 5,
) -> tuple[int, int]:  # fmt: skip
    """One round of ``nas.search`` workers (``extra`` flags) under ``fault``, each ended one restarted; (faults
    landed, trials in the study)."""
    rng = random.Random(seed)
    argv = ["nas.search", "--study", "tiny", "--storage", url, "--n-trials", str(n_trials), "--seed", "0",
            "--artifacts", str(folder / "artifacts"), *extra]  # fmt: skip
    fleet = Fleet(argv, folder)
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
    fleet.start()  # one more run after the dust settles: re-queues a named variant whose last trial was killed
    fleet.finish()
    study = check_invariants(url, kept)
    done = {t.user_attrs.get("preset") for t in study.get_trials(states=(TrialState.COMPLETE,))}
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
        password = sqlalchemy.engine.make_url(postgres_url).password
        assert password, "the test server's URL has a password"
        no_secret(postgres_url, password, folder)
    assert kills >= ROUNDS, "no kill landed during a trial"
    report("3 PostgreSQL workers", kills, ROUNDS, trials, time.monotonic() - began)


def test_postgres_server_restarted_under_three_workers(
    fleets: list[Fleet], tmp_path: Path, private_postgres: Server
) -> None:
    """Every worker goes on through each restart (exit 0 in the end): nothing to restart but the server."""
    began, restarts, trials = time.monotonic(), 0, 0
    try:
        for r in range(ROUNDS):
            folder = tmp_path / f"round{r}"
            folder.mkdir()
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_devices_launcher_killed(fleets: list[Fleet], tmp_path: Path) -> None:
    began, kills, trials = time.monotonic(), 0, 0
    for r in range(ROUNDS):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        landed, n = search_round(fleets, folder, f"sqlite:///{folder}/study.db", 1, seed=300 + r,
                                 fault=kill_the_launcher, extra=("--devices", "cpu,cpu"), n_trials=4)  # fmt: skip
        kills, trials = kills + landed, trials + n
    assert kills >= ROUNDS, "no kill landed while both workers trained"
    report("`--devices cpu,cpu` launcher", kills, ROUNDS, trials, time.monotonic() - began)


def test_single_search_sigterm(fleets: list[Fleet], tmp_path: Path) -> None:
    began, stops, trials = time.monotonic(), 0, 0
    for r in range(ROUNDS):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        url = f"sqlite:///{folder}/study.db"
        landed, n = search_round(fleets, folder, url, 1, seed=400 + r, fault=sigterm_during_a_trial, n_trials=3)
        stops, trials = stops + landed, trials + n
    assert stops >= ROUNDS, "no SIGTERM landed during a trial"
    report("single search", stops, ROUNDS, trials, time.monotonic() - began, "SIGTERMs")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own (mounting needs root); skipped where none can be mounted."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = shutil.which("mount")
    made = mount and subprocess.run([mount, "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True)
    if not made or made.returncode != 0:
        pytest.skip("no tmpfs can be mounted here (root only): tests/nas/test_storage_faults.py has SQLite's own")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def test_storage_disk_filled(fleets: list[Fleet], tmp_path: Path, disk: Path) -> None:
    began, fills, trials = time.monotonic(), 0, 0
    for r in range(ROUNDS):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        url = f"sqlite:///{disk}/study{r}.db"
        landed, n = search_round(fleets, folder, url, 1, seed=500 + r, fault=fill_the_disk(disk), n_trials=3)
        fills, trials = fills + landed, trials + n
        assert leftovers(disk) == [] and not (disk / "filler").exists()
    assert fills >= ROUNDS, "the disk never filled during a trial"
    report("storage on a full tmpfs", fills, ROUNDS, trials, time.monotonic() - began, "fills")


def remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True, capture_output=True)


def test_storage_read_only(fleets: list[Fleet], tmp_path: Path, disk: Path) -> None:
    """Between runs (a mount with a file open for writing cannot go read-only): a search on the read-only disk
    ends in one line, exit 2, the file unchanged; writable again, the next run goes on."""
    began, refused, trials = time.monotonic(), 0, 0
    for r in range(ROUNDS):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        db = disk / f"study{r}.db"
        reader = f"sqlite:///file:{db}?mode=ro&uri=true"  # this test's own reads keep nothing open for writing
        argv = ["nas.search", "--study", "tiny", "--storage", f"sqlite:///{db}", "--n-trials", "2", "--seed", "0",
                "--artifacts", str(folder / "artifacts")]  # fmt: skip
        fleet = Fleet(argv, folder)
        fleets.append(fleet)
        fleet.start()
        fleet.finish()
        kept: dict[int, list[float]] = {}
        for _ in range(KILLS):
            kept.update(complete_values(reader))
            before = hashlib.sha256(db.read_bytes()).hexdigest()
            remount(disk, "ro")
            try:
                proc = fleet.start()
                assert proc.wait(timeout=DEADLINE) == 2, fleet.tail(proc)
            finally:
                remount(disk, "rw")
            fleet.killed.append(proc.pid)
            one_line_error(fleet.logs[proc.pid], f"nas.search: error: {READ_ONLY}")
            assert hashlib.sha256(db.read_bytes()).hexdigest() == before
            refused += 1
            fleet.start()  # writable again: goes on
            fleet.finish()
        study = check_invariants(reader, kept)
        done = {t.user_attrs.get("preset") for t in study.get_trials(states=(TrialState.COMPLETE,))}
        assert done >= NAMED, f"named variants not COMPLETE in the end: {NAMED - done}"
        assert leftovers(disk) == []
        trials += len(study.trials)
    report("storage on a read-only tmpfs", refused, ROUNDS, trials, time.monotonic() - began, "read-only starts")


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
