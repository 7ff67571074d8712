"""Trials whose worker is gone or stopped: FAILed with their reason, so the study goes on and a run never ends
as if it had produced what it did not."""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress

import optuna

from nas.errors import StorageFault
from nas.processes import process_alive
from nas.stops import Stopped, deferring
from nas.study import keys
from nas.study.faults import STORAGE_ERRORS, storage_fault
from nas.study.naming import plural
from nas.study.optuna_adapter import trial_id
from nas.study.owners import local_pid
from nas.study.records import why_not

log = logging.getLogger(__name__)


def fail_dead_local_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Fail at once the RUNNING trials whose worker ran on this machine and is gone (kill -9, a crash);
    trials of other machines are left to Optuna's heartbeat.  Returns their numbers."""
    here = socket.gethostname()

    def dead(pid: int) -> str | None:
        return None if process_alive(pid) else f"worker process {pid} on {here} ended while the trial was running"

    return fail_local_trials(study, storage, dead)


def fail_local_trials(
    study: optuna.Study, storage: optuna.storages.BaseStorage, reason_for: Callable[[int], str | None]
) -> list[int]:
    """Fail the RUNNING trials of this machine's processes for which ``reason_for(pid)`` gives a reason."""
    failed = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid = local_pid(t.user_attrs)
        if pid is None:
            continue
        reason = reason_for(pid)
        if reason is None:
            continue
        try:
            with suppress(*STORAGE_ERRORS):  # a full disk may take the FAIL but not its reason
                storage.set_trial_user_attr(trial_id(t), keys.FAIL_REASON, reason)
            with warnings.catch_warnings():  # Optuna notes that tell() on a heartbeat storage bypasses optimize()
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except (RuntimeError, ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # another worker restarting on this machine failed it first
        failed.append(t.number)
    return failed


@contextmanager
def failing_own_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> Iterator[None]:
    """A storage or disk fault that ends the search FAILs this process's RUNNING trial with its cause, where the
    storage takes it again (a server back after a dropped commit; otherwise the next run fails the trial), and
    ends the run with one line naming the cause: trials finished before it are saved.

    A stop (Ctrl-C, SIGTERM, the launcher's death) is deferred to the work inside (``nas.stops``), so each trial
    is told FAIL with its reason; trials still RUNNING after it (a halving batch) are FAILed with it here."""
    try:
        with deferring():
            yield
    except Stopped as stop:
        reason = stop.reason
        with suppress(*STORAGE_ERRORS):
            failed = fail_local_trials(study, storage, lambda pid: reason if pid == os.getpid() else None)
            if failed:
                log.info(f"{reason}: trials {failed} failed, they had not finished")
        raise
    except Exception as err:
        fault = storage_fault(err)
        if fault is None:
            raise
        with suppress(*STORAGE_ERRORS):
            fail_local_trials(study, storage, lambda pid: str(fault) if pid == os.getpid() else None)
        raise StorageFault(f"{fault}; the trials finished before it are saved: run the same command to go on") from None


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose heartbeat stopped (a worker killed before it recorded its PID, or on
    another machine) before named variants are re-queued, rather than inside ``optimize`` after it."""
    before = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
    if not before:
        return []
    optuna.storages.fail_stale_trials(study)
    after = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
    return sorted(before - after)


def fail_abandoned_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[str]:
    """Fail the RUNNING trials whose worker is gone (on this machine at once, elsewhere once its heartbeat is
    older than the grace period) before a run plans its work; what was failed, as lines to print."""
    lines = []
    dead = fail_dead_local_trials(study, storage)
    if dead:
        lines.append(f"failed at once, their worker on this machine is gone: trials {dead}")
    stale = fail_stale_trials(study)
    if stale:
        lines.append(f"failed, no heartbeat within the grace period: trials {stale}")
    return lines


def all_failed(study: optuna.Study, finished: Collection[int]) -> str:
    """Why every trial this process finished, other than those ``finished`` before, FAILED ("" when one did not, or
    none finished): a run that produced nothing must not end as if it had."""
    me = os.getpid()
    mine = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.number not in finished and t.state.is_finished() and local_pid(t.user_attrs) == me
    ]
    if not mine or any(t.state != optuna.trial.TrialState.FAIL for t in mine):
        return ""
    reasons = list(dict.fromkeys(why_not(t) for t in mine))
    more = f" (and {plural(len(reasons) - 1, 'other reason')})" if len(reasons) > 1 else ""
    which = "the one trial" if len(mine) == 1 else f"all {len(mine)} trials"
    return f"{which} of this run failed, the last with: {why_not(mine[-1])}{more}"
