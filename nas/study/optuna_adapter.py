"""The one place that reaches into Optuna's private API, and why.

A companion study (``NAME.fidelity``) must live in the same storage as the study it belongs
to.  Optuna has no public accessor for a loaded study's storage, so :func:`storage_of` reads
``Study._storage``; a dead worker's RUNNING trial gets its failure reason through the storage,
which needs :func:`trial_id` (``FrozenTrial._trial_id``); atomic claims of an architecture live in a
table of the storage's own database, reached through :func:`engine_of` (``RDBStorage.engine``);
asynchronous halving promotes a candidate that another worker asked, so it needs a writable
handle on that RUNNING trial, :func:`live_trial` (``optuna.Trial(study, trial_id)``).
``tests/nas/test_layering.py`` checks them against the pinned Optuna.
Everything else uses public API: samplers key their state by ``FrozenTrial.number`` (not the
private ``_trial_id``), and queued trials carry our own ``queued`` attribute (not Optuna's
``fixed_params`` system attribute).
"""

from __future__ import annotations

import optuna
import sqlalchemy


def trial_id(trial: optuna.trial.FrozenTrial) -> int:
    """The storage's id of a trial: needed to record why a dead worker's RUNNING trial failed, since a
    finished-trial handle (``FrozenTrial``) offers no public way to write to a trial that is still RUNNING."""
    return int(trial._trial_id)


def asked_trial_id(trial: optuna.Trial) -> int:
    """The storage's id of a trial this process asked (``study.ask()``): a race records its heartbeat by it."""
    return int(trial._trial_id)


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study was created or loaded with."""
    storage = study._storage
    if not isinstance(storage, optuna.storages.BaseStorage):  # a change in Optuna's internals
        raise TypeError(f"optuna {optuna.__version__}: Study._storage is {type(storage).__name__}, not a storage")
    return storage


def engine_of(storage: optuna.storages.BaseStorage) -> sqlalchemy.engine.Engine | None:
    """The SQLAlchemy engine behind an RDB storage (None for any other storage)."""
    engine = getattr(storage, "engine", None) if isinstance(storage, optuna.storages.RDBStorage) else None
    return engine if isinstance(engine, sqlalchemy.engine.Engine) else None


def live_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> optuna.Trial:
    """A writable handle on a RUNNING trial that another process asked (its attributes and ``tell``)."""
    return optuna.Trial(study, trial_id(trial))
