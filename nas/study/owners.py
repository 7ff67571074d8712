"""A RUNNING trial names its machine and process from the commit that makes it RUNNING.

Optuna makes a trial RUNNING (``ask``: a new trial, or a queued one popped) before the objective can record
anything, and its first heartbeat follows in another thread.  A worker killed in between left a trial that named
no process and had no heartbeat: no later run could tell it was dead (Optuna counts only trials with a heartbeat
as stale), and it stayed RUNNING for good.  Here the owner is written in the same transaction as the state.

This reaches into Optuna's RDB storage (its session helper, models and trial creation; Optuna is pinned in
constraints.txt): tests/nas/test_owners.py kills a process at that point and fails if a new Optuna changes them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import cast

import optuna
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import exc as sqlalchemy_exc

from nas.study import keys


def owner() -> dict[str, str | int]:
    """This process, as a RUNNING trial records it (``nas.search.recovery`` fails its trials once it is gone)."""
    return {keys.WORKER_HOST: socket.gethostname(), keys.WORKER_PID: os.getpid()}


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
        except sqlalchemy_exc.IntegrityError:
            return False
        return True
