"""A worker killed between Optuna's ask and its objective's first record leaves a trial that the next run fails.

The window is real: CI's fault test once SIGKILLed a search worker in it, and the trial stayed RUNNING (it named
no process and had no heartbeat, so no later run could fail it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.search.recovery import fail_dead_local_trials
from nas.study import keys
from nas.study.optuna_adapter import trial_id
from nas.study.owners import boot_id, owner
from nas.study.storage import storage_for
from tests import warm

ASK_AND_DIE = """
import os, signal, sys
import optuna
from nas.study.optuna_adapter import trial_id
from nas.study.owners import boot_id, owner
from nas.study.storage import storage_for
study = optuna.create_study(study_name="owners", storage=storage_for(sys.argv[1]), load_if_exists=True)
if sys.argv[2] == "queued":
    study.enqueue_trial({"x": 1.0})
study.ask()
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/study.db"
    return str(request.getfixturevalue("postgres_url"))


def ask_and_die(url: str, how: str) -> int:
    """The pid of a process that asked a trial (``how``: a new one, or a queued one popped) and was SIGKILLed."""
    env = {**os.environ, "PYTHONPATH": warm.pythonpath()}
    proc = warm.popen([sys.executable, "-c", ASK_AND_DIE, url, how], env=env, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    return proc.pid


@pytest.mark.parametrize("how", ["new", "queued"])
def test_a_trial_asked_by_a_worker_killed_at_once_names_it_and_the_next_run_fails_it(url: str, how: str) -> None:
    pid = ask_and_die(url, how)
    storage = storage_for(url)
    study = optuna.load_study(study_name="owners", storage=storage)
    (asked,) = study.get_trials(deepcopy=False)  # one trial: a queued one was popped, not asked anew
    assert asked.state == TrialState.RUNNING
    assert asked.user_attrs == {**owner(), keys.WORKER_PID: pid}

    assert fail_dead_local_trials(study, storage) == [asked.number]
    (failed,) = study.get_trials(deepcopy=False)
    assert failed.state == TrialState.FAIL
    assert (
        failed.user_attrs[keys.FAIL_REASON]
        == f"worker process {pid} on {socket.gethostname()} ended while the trial was running"
    )


def test_a_queued_trial_popped_once_is_not_popped_again(tmp_path: Path) -> None:
    storage = storage_for(f"sqlite:///{tmp_path}/study.db")
    study = optuna.create_study(study_name="owners", storage=storage)
    study.enqueue_trial({"x": 1.0})
    (queued,) = study.get_trials(deepcopy=False)
    assert storage.set_trial_state_values(trial_id(queued), TrialState.RUNNING)
    assert not storage.set_trial_state_values(trial_id(queued), TrialState.RUNNING)
    (running,) = study.get_trials(deepcopy=False)
    assert running.user_attrs == owner()


def test_a_dead_process_is_judged_on_its_own_machine_only(tmp_path: Path) -> None:
    """Machines made from one image share a name ("vm"): a process id of another boot says nothing here."""
    pid = ask_and_die(f"sqlite:///{tmp_path}/study.db", "new")  # an id no process has now
    storage = storage_for(f"sqlite:///{tmp_path}/study.db")
    study = optuna.load_study(study_name="owners", storage=storage)
    here = socket.gethostname()
    for boot in ("another-boot", None):  # None: recorded before msnas kept the boot id, judged by the name
        attrs = {keys.WORKER_HOST: here, keys.WORKER_PID: pid} | ({keys.WORKER_BOOT: boot} if boot else {})
        study.add_trial(optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs=attrs))
    assert boot_id()  # a Linux machine: the test means nothing where the system gives no boot id
    asked, elsewhere, before = study.get_trials(deepcopy=False)
    assert fail_dead_local_trials(study, storage) == [asked.number, before.number]
    assert study.trials[elsewhere.number].state == TrialState.RUNNING  # left to its heartbeat
