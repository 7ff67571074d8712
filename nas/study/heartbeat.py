"""Heartbeats for trials that a process asked itself (``study.ask()``): Optuna beats only inside ``optimize``.

A race's claimed training is a RUNNING trial; its heartbeat lets ``optuna.storages.fail_stale_trials`` fail it
once its worker dies on another machine (a worker on the same machine is checked by its process id).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

import optuna


@contextlib.contextmanager
def own_heartbeat() -> Iterator[None]:
    """Optuna notes that heartbeats are meant for ``optimize``; a race records its own (``heartbeat``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        yield


@contextlib.contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial: int) -> Iterator[None]:
    """Record the trial's heartbeat while it trains, so a worker that dies on another machine is noticed."""
    if not isinstance(storage, optuna.storages.RDBStorage) or storage.get_heartbeat_interval() is None:
        yield
        return
    interval = float(storage.get_heartbeat_interval() or 60)
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            storage.record_heartbeat(trial)
            stop.wait(interval)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
