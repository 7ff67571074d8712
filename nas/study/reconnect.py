"""A database server that restarts under a running search: pooled connections are checked before use (pre-ping),
a server that went away is waited for, and a heartbeat that cannot be written waits for the next beat.

Without these, the first query after a restart ran on a dead pooled connection, Optuna reported it as "invalid
data in the commit", and every worker ended with a long traceback, its trial left RUNNING.  The wait is as long
as the heartbeat's grace period: a server away longer leaves every trial's heartbeat stale anyway.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import optuna
import sqlalchemy

from nas.errors import one_line
from nas.study.faults import STORAGE_ERRORS, chain, storage_fault
from nas.study.optuna_adapter import OwnedTrialsStorage

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
SERVER_ENGINE = {"pool_pre_ping": True}  # a connection the server dropped is replaced before a query runs on it


class Patience:
    """Waits up to ``seconds`` for a database server that went away, saying so once when it goes and once when
    it is back."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lost_at: float | None = None
        self.lock = threading.Lock()  # the heartbeat thread reconnects beside the trial's

    def connect(self, dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        """SQLAlchemy's ``do_connect`` hook: the driver's connection once the server answers; its error after
        ``seconds`` from when the server went (every connection of an outage shares that wait: one after another,
        each waiting anew, the worker took five times as long to end)."""
        with self.lock:
            deadline = (time.monotonic() if self.lost_at is None else self.lost_at) + self.seconds
        while True:
            try:
                connection = dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError as err:
                if time.monotonic() >= deadline:
                    raise
                self.lost(err)
                time.sleep(RETRY_SECONDS)
                continue
            self.back()
            return connection

    def lost(self, err: BaseException) -> None:
        with self.lock:
            if self.lost_at is None:
                self.lost_at = time.monotonic()
                log.warning(f"storage: the database server cannot be reached ({one_line(err)});"
                            f" trying again for {self.seconds:g} s")  # fmt: skip

    def back(self) -> None:
        with self.lock:
            if self.lost_at is not None:
                log.warning(f"storage: the database server answers again after {time.monotonic() - self.lost_at:.0f} s")
                self.lost_at = None


def wait_for_server(engine: sqlalchemy.engine.Engine, seconds: float) -> None:
    """Every new connection of ``engine`` waits up to ``seconds`` for its server (once it has answered: a server
    that never did is an error at once)."""
    sqlalchemy.event.listen(engine, "do_connect", Patience(seconds).connect)


class SteadyStorage(OwnedTrialsStorage):
    """Optuna's RDB storage, whose heartbeat, when the database cannot take it, says so in one line and beats
    again at the next interval: Optuna's heartbeat thread died with a traceback and never beat again."""

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except STORAGE_ERRORS as err:
            log.warning(f"storage: a heartbeat was not recorded ({storage_fault(err) or one_line(err)})")


# Calls whose second run after a lost connection changes nothing a first run that got through would not: reads,
# and writes of a value by key.  A trial's creation or state change is not among them (it might run twice).
RETRIED_AFTER_A_LOST_CONNECTION = (
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
    "get_study_system_attrs", "get_all_studies", "get_trial_id_from_study_id_trial_number", "get_trial",
    "_get_trials", "_get_best_trial_id", "get_trial_param", "_get_stale_trial_ids", "set_study_user_attr",
    "set_study_system_attr", "set_trial_user_attr", "set_trial_system_attr",
)  # fmt: skip


def lost_connection(err: BaseException) -> bool:
    """Whether ``err`` holds a connection the server dropped under a query (SQLAlchemy invalidated it)."""
    return any(isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated for link in chain(err))


def again_after_a_lost_connection(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` run once more when the server dropped its connection mid-query (a restart): the new
    connection waits for the server (``Patience``); pre-ping only checks a connection before a query starts."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            if not lost_connection(err):
                raise
            log.warning(f"storage: the connection was lost under a query ({storage_fault(err) or one_line(err)});"
                        " running it again")  # fmt: skip
            return method(self, *args, **kwargs)

    return run


for _name in RETRIED_AFTER_A_LOST_CONNECTION:
    setattr(SteadyStorage, _name, again_after_a_lost_connection(getattr(optuna.storages.RDBStorage, _name)))
