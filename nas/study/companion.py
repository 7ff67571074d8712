"""The companion study ``NAME.fidelity``: re-training results of a study's architectures.

Finished Optuna trials cannot take new attributes, so ``nas.fidelity`` records each re-training
as a COMPLETE trial of a second study in the same storage.  This module alone opens it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.study import keys
from nas.study.optuna_adapter import storage_of
from studies import BASE_OBJECTIVES
from studies.budget import ProxyBudget

FIDELITY_SUFFIX = ".fidelity"


def is_companion(name: str) -> bool:
    return name.endswith(FIDELITY_SUFFIX)


def open_companion(study: optuna.Study) -> optuna.Study:
    """The study that holds re-training results: created on first use, same storage, base objectives."""
    name = study.study_name + FIDELITY_SUFFIX
    storage = storage_of(study)
    try:
        other = optuna.create_study(study_name=name, storage=storage, directions=[o.direction for o in BASE_OBJECTIVES])
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage)
    other.set_metric_names([o.name for o in BASE_OBJECTIVES])
    other.set_user_attr(keys.SOURCE_STUDY, study.study_name)
    return other


def fidelity_records(study: optuna.Study) -> list[FrozenTrial]:
    """The companion study's COMPLETE re-training records (none when it does not exist yet)."""
    name = study.study_name + FIDELITY_SUFFIX
    storage = storage_of(study)
    if name not in optuna.get_all_study_names(storage):
        return []
    other = optuna.load_study(study_name=name, storage=storage)
    return other.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def recorded(fidelity: optuna.Study) -> dict[str, FrozenTrial]:
    """Work key -> the re-training recorded for it."""
    return {
        str(t.user_attrs[keys.WORK_KEY]): t
        for t in fidelity.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if keys.WORK_KEY in t.user_attrs
    }


def data_key(data: Mapping[str, Any] | None) -> str | None:
    """What tells runs on other data apart: the content hash of a data identity (``nas.sr.data_identity``);
    None for the bundled photos and for records made before data were recorded (they trained on those)."""
    if data is None or data.get("bundled"):
        return None
    return str(data["sha256"])


def work_key(spec_hash: str, budget: ProxyBudget, seed: int, data: Mapping[str, Any] | None = None) -> str:
    """What identifies one re-training: the architecture, the exact budget, the seed and the data (the key of
    the bundled photos is the one made before data were recorded, so older records still answer for them)."""
    key = f"{spec_hash}|{seed}|{json.dumps(budget.as_dict(), sort_keys=True)}"
    content = data_key(data)
    return key if content is None else f"{key}|data={content}"
