"""The one place that reaches into Optuna's private API, and why.

A companion study (``NAME.fidelity``) must live in the same storage as the study it belongs
to.  Optuna has no public accessor for a loaded study's storage, so :func:`storage_of` reads
``Study._storage``; a dead worker's RUNNING trial gets its failure reason through the storage,
which needs :func:`trial_id` (``FrozenTrial._trial_id``); atomic claims of an architecture live in a
table of the storage's own database, reached through :func:`engine_of` (``RDBStorage.engine``);
asynchronous halving promotes a candidate that another worker asked, so it needs a writable
handle on that RUNNING trial, :func:`live_trial` (``optuna.Trial(study, trial_id)``).
A trial made RUNNING records its owner in the same commit (``nas.study.owners``), which only Optuna's RDB
internals allow: :class:`OwnedTrialsStorage` (trial creation, and the pop of a queued trial, done again with the
owner added).  ``tests/nas/test_layering.py`` and ``tests/nas/test_owners.py`` check them against the pinned Optuna.
Everything else uses public API: samplers key their state by ``FrozenTrial.number`` (not the
private ``_trial_id``), and queued trials carry our own ``queued`` attribute (not Optuna's
``fixed_params`` system attribute).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

import optuna
import sqlalchemy
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState

from nas.study.owners import owner


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


def running_template() -> FrozenTrial:
    """What Optuna makes for an asked trial (RUNNING, nothing recorded), with this process as its owner."""
    return FrozenTrial(
        number=-1, state=TrialState.RUNNING, value=None, values=None, datetime_start=datetime.now(),
        datetime_complete=None, params={}, distributions={}, user_attrs=owner(), system_attrs={},
        intermediate_values={}, trial_id=-1,
    )  # fmt: skip


class OwnedTrialsStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, whose every trial made RUNNING here records this process in the same commit."""

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        """Optuna's own (its cache calls this one); an asked trial (no template) records its owner in the commit
        that makes it."""
        return super()._create_new_trial(study_id, template_trial or running_template())

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        """Optuna's own, and a WAITING trial popped to RUNNING records its owner in that commit."""
        if state != TrialState.RUNNING or values is not None:
            return super().set_trial_state_values(trial_id, state, values)
        try:
            with _create_scoped_session(self.scoped_session) as session:
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
                self.check_trial_is_updatable(trial_id, cast(TrialState, trial.state))
                if trial.state != TrialState.WAITING:
                    return False  # another worker popped it first
                trial.state, trial.datetime_start = TrialState.RUNNING, datetime.now()
                for key, value in owner().items():
                    self._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, key, value)
        except sqlalchemy.exc.IntegrityError:
            return False
        return True
