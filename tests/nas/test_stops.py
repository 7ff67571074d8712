"""Stops (``nas.stops``): SIGTERM and SIGHUP end a command like Ctrl-C, never inside a storage write; workers die
with their launcher however it dies; a stopped trial is FAIL with its reason, never left RUNNING.

The commands are real processes on the tiny study with trials of minutes (an orphan would not end on its own);
each test kills only the processes it started.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from nas.stops import LAUNCHER_ENDED, Stopped, deferring, handling_stops, interruptible, stop_asked
from nas.study import keys
from nas.study.storage import storage_for
from nas.training.checkpoint import CHECKPOINT
from studies import STUDIES
from studies.files import dumps
from tests import warm
from tests.nas.test_train_cli import make_files
from tests.warm import Command

ROOT = Path(__file__).resolve().parents[2]
STOP_SECONDS = 15  # from the signal to the process gone, trial recorded (interpreter exit included, on a busy CPU)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


# ---- the mechanism, in this process (real signals to ourselves) ----


def test_a_stop_waits_for_a_deferring_block_and_interrupts_work_inside_it():
    with handling_stops():
        with pytest.raises(Stopped) as raised, deferring():
            os.kill(os.getpid(), signal.SIGTERM)  # inside a storage write, say: recorded, not raised
            asked = stop_asked()
            assert asked is not None and asked.reason == "stopped by SIGTERM"
            done = True
        assert done and raised.value.exit_code == 143
        with pytest.raises(Stopped), deferring(), interruptible():  # asked before: raised on entry to the work
            pytest.fail("work started after a stop")
    assert stop_asked() is None  # cleared with the handlers


def test_work_is_interrupted_at_once_and_a_second_signal_anywhere():
    before = signal.getsignal(signal.SIGTERM)
    with handling_stops(), pytest.raises(Stopped), deferring():
        with pytest.raises(Stopped) as raised, interruptible():
            os.kill(os.getpid(), signal.SIGINT)
            pytest.fail("the work went on")
        assert raised.value.exit_code == 130 and raised.value.reason == "interrupted"
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal: whoever insists is not made to wait
        pytest.fail("a second signal was deferred")
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.fixture
def hangups_heard() -> Iterator[None]:
    """SIGHUP at its default in this worker, and so in the commands it starts: the suite may itself run under
    ``nohup`` (a CI runner, a long job started from a shell), which ignores SIGHUP for every process below it."""
    before = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, before)


def test_a_hangup_is_a_stop_except_under_nohup(hangups_heard: None):
    with handling_stops(), pytest.raises(Stopped) as raised, interruptible():
        os.kill(os.getpid(), signal.SIGHUP)
        pytest.fail("the work went on")
    assert (raised.value.reason, raised.value.exit_code) == ("stopped by SIGHUP", 129)
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts a command
    try:
        with handling_stops():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            assert stop_asked() is None
    finally:
        signal.signal(signal.SIGHUP, before)


def test_an_interrupt_of_the_commands_own_after_a_stop_is_that_stop():
    """``nas.train`` raises its own KeyboardInterrupt once the step in progress is done: it leaves as the stop."""

    class OwnInterrupt(KeyboardInterrupt):
        pass

    with pytest.raises(Stopped) as raised, handling_stops(), deferring():
        os.kill(os.getpid(), signal.SIGTERM)
        raise OwnInterrupt
    assert raised.value.exit_code == 143 and isinstance(raised.value.__cause__, OwnInterrupt)
    with pytest.raises(OwnInterrupt), handling_stops():  # no stop asked: left as it is
        raise OwnInterrupt


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_named_variant_stopped_again_and_again_is_queued_again(tmp_path):
    """Only failures of its own count towards giving a named variant up: stops are the operator's (the fault suite
    stopped ``standard``, the longest trial, three times and lost it for good)."""
    from nas.search.named import MAX_REQUEUES, requeue_failed_named
    from nas.search.runner import open_study

    study, _ = open_study(STUDIES["tiny"], storage_for(f"sqlite:///{tmp_path}/stops.db"), seed=0)
    reasons = ["interrupted", "stopped by SIGTERM", "stopped by SIGHUP", LAUNCHER_ENDED.format(123)] + [
        "RuntimeError: out of memory"
    ] * MAX_REQUEUES
    for attempt, reason in enumerate(reasons, 1):
        trial = next(t for t in iter(study.ask, None) if t.user_attrs.get(keys.PRESET) == "standard")
        trial.set_user_attr(keys.FAIL_REASON, reason)
        study.tell(trial, state=TrialState.FAIL)
        again, given_up = requeue_failed_named(study, STUDIES["tiny"])
        assert (again, given_up) == ((["standard"], []) if attempt < len(reasons) else ([], ["standard"])), reason


# ---- real commands ----


def stat_of(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), None when no such process runs."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


class Started:
    """The processes a test started (commands, launchers, their workers); those still running are killed at its
    end, each only if it is still the same process (its start time), never one that took over its id."""

    def __init__(self) -> None:
        self.procs: dict[int, str] = {}

    def append(self, pid: int) -> None:
        stat = stat_of(pid)
        if stat is not None:
            self.procs[pid] = stat[19]  # starttime

    def kill_left(self) -> None:
        for pid, began in self.procs.items():
            stat = stat_of(pid)
            if stat is not None and stat[19] == began:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def started() -> Iterator[Started]:
    made = Started()
    yield made
    made.kill_left()


def long_study(folder: Path) -> Path:
    """The tiny study with proxy runs of minutes, as a study file."""
    text = dumps(STUDIES["tiny"]).replace("iterations = 12", "iterations = 100000")
    path = folder / "tiny-long.toml"
    path.write_text(text.replace('name = "tiny"', 'name = "long"'))
    return path


def search(folder: Path, *extra: str) -> list[str]:
    url = f"sqlite:///{folder / 'study.db'}"
    return [sys.executable, "-m", "nas.search", "--study-file", str(long_study(folder)), "--storage", url,
            "--artifacts", str(folder / "artifacts"), *extra]  # fmt: skip


def trials_of(folder: Path) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="long", storage=storage_for(f"sqlite:///{folder / 'study.db'}"))
    return [t for t in study.get_trials() if t.state != TrialState.WAITING]


def wait_for(
    log: Path, pattern: str, count: int, proc: Command | subprocess.Popen[bytes], seconds: float = 120
) -> None:
    deadline = time.monotonic() + seconds
    while len(re.findall(pattern, log.read_text())) < count:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


def gone_within(pids: list[int], seconds: float) -> float:
    """Seconds until none of ``pids`` runs (a zombie counts as gone); fails after ``seconds``."""
    began = time.monotonic()
    while live := [p for p in pids if (stat_of(p) or ["Z"])[0] != "Z"]:
        assert time.monotonic() - began < seconds, f"still running {seconds} s after the stop: {live}"
        time.sleep(0.05)
    return time.monotonic() - began


def sigterm_once(argv: list[str], log: Path, ready: str, started: Started) -> list[str]:
    """Start ``argv``, send SIGTERM once its stderr shows ``ready``; its stderr lines, after it exited 143."""
    with log.open("wb") as err:
        proc = warm.popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=err)
    started.append(proc.pid)
    wait_for(log, ready, 1, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=STOP_SECONDS) == 143
    return log.read_text().splitlines()


def test_sigterm_stops_a_search_with_its_trial_failed_and_said(tmp_path, started: Started):
    lines = sigterm_once(search(tmp_path, "--n-trials", "3"), tmp_path / "err", r"trial 0 \S+ starts:", started)
    assert lines[-1] == "nas.search: stopped by SIGTERM; finished trials are saved, run the same command to go on"
    assert re.fullmatch(r"trial 0 \S+: failed, stopped by SIGTERM", lines[-2]), lines[-3:]
    assert not [line for line in lines if "Traceback" in line]
    (trial,) = trials_of(tmp_path)
    assert trial.state == TrialState.FAIL and trial.user_attrs[keys.FAIL_REASON] == "stopped by SIGTERM"


def test_a_hangup_stops_a_search_on_its_terminal_with_its_trial_failed(tmp_path, started: Started, hangups_heard: None):
    """A dropped SSH session: the terminal's other end closes, the kernel sends SIGHUP; the search records its trial
    as FAIL and exits 129, though the terminal it would say so on is gone (a write there fails)."""
    leader, terminal = os.openpty()

    def own_terminal() -> None:  # in the child: a session of its own, the pty its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(search(tmp_path, "--n-trials", "3"), cwd=ROOT, env=ENV, stdin=terminal, stdout=terminal,
                            stderr=terminal, start_new_session=True, preexec_fn=own_terminal)  # fmt: skip
    os.close(terminal)
    started.append(proc.pid)
    shown, deadline = b"", time.monotonic() + 120
    while b"starts:" not in shown:  # what the terminal shows, read as it comes (a full pty would block the search)
        assert proc.poll() is None and time.monotonic() < deadline, shown[-3000:]
        if select.select([leader], [], [], 0.1)[0]:
            shown += os.read(leader, 1 << 16)
    os.close(leader)  # the hangup
    assert proc.wait(timeout=STOP_SECONDS) == 129
    (trial,) = trials_of(tmp_path)
    assert trial.state == TrialState.FAIL and trial.user_attrs[keys.FAIL_REASON] == "stopped by SIGHUP"


def test_sigterm_during_halving_fails_every_candidate_of_the_batch(tmp_path, started: Started):
    """Successive halving holds its whole batch RUNNING while it trains one: each is FAILed with the stop."""
    log = tmp_path / "err"
    with log.open("wb") as err:
        argv = search(tmp_path, "--halving", "--n-trials", "3", "--eta", "2", "--sampler", "random")
        proc = warm.popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=err)
    started.append(proc.pid)
    wait_for(log, r"rung 0: \d+ candidates", 1, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=STOP_SECONDS) == 143
    lines = log.read_text().splitlines()
    said = re.fullmatch(r"stopped by SIGTERM: trials \[([\d, ]+)\] failed, they had not finished", lines[-2])
    assert said and lines[-1].startswith("nas.search: stopped by SIGTERM; "), lines[-3:]
    study = optuna.load_study(study_name="long-random", storage=storage_for(f"sqlite:///{tmp_path / 'study.db'}"))
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [int(n) for n in said[1].split(", ")] and len(failed) >= 1
    assert {t.user_attrs[keys.FAIL_REASON] for t in failed} == {"stopped by SIGTERM"}
    assert {t.state for t in study.trials} <= {TrialState.FAIL, TrialState.PRUNED}  # nothing RUNNING


def test_sigterm_stops_a_training_after_its_step_with_a_checkpoint(tmp_path, started: Started):
    """``nas.train`` stops through the same mechanism, between steps (its state is whole at a step's end)."""
    files, out = make_files(tmp_path), tmp_path / "run"
    argv = ["--arch", str(files["arch"]), "--data", str(files["train"]), "--val-data", str(files["val"]),
            "--out", str(out), "--iters", "100000", "--batch", "2", "--hr-patch", "16", "--val-every", "1000",
            "--ckpt-every", "6", "--no-subimages", "--device", "cpu"]  # fmt: skip
    proc = warm.popen([sys.executable, "-m", "nas.train", *argv], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    started.append(proc.pid)
    deadline = time.monotonic() + 120
    while not (out / CHECKPOINT).exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=STOP_SECONDS)
    assert proc.returncode == 143 and "nas.train: stopped by SIGTERM; checkpoint saved" in err.decode(), err.decode()
    assert 0 < torch.load(out / CHECKPOINT, weights_only=True)["iteration"] < 100000


def workers_of(launcher: int) -> list[int]:
    """The processes whose parent is ``launcher``."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if (stat_of(pid) or ["", "0"])[1] == str(launcher)]


@pytest.mark.slow  # two cold worker processes
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_workers_die_with_a_killed_launcher_and_a_rerun_recovers(tmp_path, started: Started):
    log = tmp_path / "err"
    with log.open("wb") as err:
        launcher = warm.popen(search(tmp_path, "--n-trials", "4", "--devices", "cpu,cpu"), cwd=ROOT, env=ENV,
                                    stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    started.append(launcher.pid)
    wait_for(log, r"\[w\d cpu\] trial \d+ \S+ starts:", 2, launcher)
    workers = workers_of(launcher.pid)
    for pid in workers:
        started.append(pid)
    assert len(workers) == 2
    launcher.kill()
    launcher.wait()
    gone_within(workers, STOP_SECONDS)
    trials = trials_of(tmp_path)
    assert len(trials) == 2 and {t.user_attrs[keys.WORKER_PID] for t in trials} == set(workers)
    reason = f"stopped: its launcher (process {launcher.pid}) ended"
    assert [(t.state, t.user_attrs.get(keys.FAIL_REASON)) for t in trials] == [(TrialState.FAIL, reason)] * 2

    # the next run has nothing left RUNNING to fail and goes on; Ctrl-C stops it alike
    rerun = warm.popen(search(tmp_path, "--n-trials", "1"), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    started.append(rerun.pid)
    assert rerun.stderr is not None
    said = ""
    while "starts:" not in said:
        line = rerun.stderr.readline()
        assert line, said
        said += line
    assert "failed at once" not in said and "no heartbeat" not in said
    rerun.send_signal(signal.SIGINT)
    assert rerun.wait(timeout=STOP_SECONDS) == 130
    after = trials_of(tmp_path)
    assert len(after) == 3 and after[2].state == TrialState.FAIL
    assert after[2].user_attrs[keys.FAIL_REASON] == "interrupted" and after[2].user_attrs[keys.WORKER_PID] == rerun.pid


def test_sigterm_to_a_race_worker_fails_its_trial_and_frees_its_claim(tmp_path, started: Started):
    from nas.search.race import RaceConfig, open_race

    url = f"sqlite:///{tmp_path / 'race.db'}"
    race = ["--study", "tiny", "--candidates", "standard,ms3", "--budgets", "1000", "--device", "cpu"]
    argv = [sys.executable, "-m", "nas.verdict", *race, "--storage", url]
    lines = sigterm_once(argv, tmp_path / "err", r"\[0 runs recorded\]", started)
    assert lines[-1] == "nas.verdict: stopped by SIGTERM; what was recorded stays; run the same command again to go on"
    assert re.search(r"not recorded \(trial 0 failed\), stopped by SIGTERM$", lines[-2]), lines[-3:]

    r = open_race(RaceConfig("tiny", url, ("standard", "ms3"), budgets=(1000.0,), device="cpu"))
    (trial,) = r.companion.get_trials()
    assert trial.state == TrialState.FAIL and trial.user_attrs[keys.FAIL_REASON] == "stopped by SIGTERM"
    assert r.claims is not None
    claim = hashlib.sha256(trial.user_attrs[keys.CLAIMED_WORK].encode()).hexdigest()
    assert r.claims.holder(claim) == trial.number and r.gone(trial.number)  # the next worker takes it over
