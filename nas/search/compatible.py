"""Whether a stored study may take this worker's trials: made by the same definition, trained with the same proxy
budget, data, spec hashes and initialisation rule (a study another worker is still making is waited for).

``check_compatible`` is the one call a resuming search makes; the checks are also used alone (``nas.fidelity``,
``nas.verdict`` and ``--devices`` check what they need).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import optuna

from backbones import INIT_RULE
from nas.errors import InputError
from nas.sr.data_identity import describe_data
from nas.study import keys
from nas.study.companion import data_key
from space import load_spec
from studies import StudyDef
from studies.budget import ProxyBudget
from studies.files import study_from_data, study_to_data


def check_compatible(
    study: optuna.Study,
    definition: StudyDef,
    storage: optuna.storages.BaseStorage,
    budget: ProxyBudget,
    data: Mapping[str, Any],
) -> None:
    """Refuse, with the reason, a stored study this worker's trials would not be comparable with."""
    refuse_made_elsewhere(study, definition)
    wait_until_whole(study)
    check_is_this_study(study, definition, storage)
    check_budget(study, budget)
    check_data(study, data)
    check_hashes(study)
    check_init_rule(study)


def check_is_this_study(
    study: optuna.Study, definition: StudyDef, storage: optuna.storages.BaseStorage, wait: float = 2.0
) -> None:
    """Refuse a stored study of the same name that this definition did not make (other objectives,
    directions or definition): searching it would mix its trials with ours or optimise the wrong way.

    Metric names and attributes are written just after creation, so a worker that loads a study
    another worker is still creating looks again for up to ``wait`` seconds.
    """
    want = [(o.name, o.direction) for o in definition.objectives]
    check_directions(study, definition)
    deadline = time.monotonic() + wait
    while (study.metric_names is None or keys.DEFINITION not in study.user_attrs) and time.monotonic() < deadline:
        time.sleep(0.1)
        study = optuna.load_study(study_name=study.study_name, storage=storage)
    made_by = study.user_attrs.get(keys.DEFINITION)
    if study.metric_names != [n for n, _ in want] or made_by != definition.name:
        raise not_made_by(study, definition, made_by)
    stored = normalised(study.user_attrs.get(keys.DEFINITION_DATA))
    mine = study_to_data(definition)
    if isinstance(stored, dict) and {**stored, "description": ""} != {**mine, "description": ""}:  # words aside
        raise InputError(
            f"--study: {study.study_name!r} in the storage was made from another definition of {definition.name!r}"
            f" ({first_difference(stored, mine)}): use the file and flags it was made with, another storage, or"
            " --study-name NEW to search this definition as a new study"
        )


def check_directions(study: optuna.Study, definition: StudyDef) -> None:
    """Refuse a study whose directions are not this definition's (they are set when the study is created)."""
    want = [o.direction for o in definition.objectives]
    directions = [d.name.lower() for d in study.directions]
    if directions != want:
        raise InputError(
            f"--study: {study.study_name!r} in the storage has directions {directions}, not this study's "
            f"{want}: it was not made by nas.search --study {definition.name} (use another storage)"
        )


def refuse_made_elsewhere(study: optuna.Study, definition: StudyDef) -> None:
    """Refuse at once, without waiting for a creator to finish, a study that what creation writes first (its
    directions, then its definition's name) already shows to be another definition's: no wait makes it ours."""
    check_directions(study, definition)
    made_by = study.user_attrs.get(keys.DEFINITION)
    if made_by is not None and made_by != definition.name:
        raise not_made_by(study, definition, made_by)


def not_made_by(study: optuna.Study, definition: StudyDef, made_by: Any) -> InputError:
    return InputError(
        f"--study: {study.study_name!r} in the storage was not made by nas.search --study {definition.name} "
        f"(objectives {study.metric_names}, definition {made_by!r}): use another storage or study"
    )


def normalised(stored: Any) -> Any:
    """A stored definition with the fields added since it was stored at their defaults (as this version reads
    it), so that a new field with its default does not make every older study another definition."""
    if not isinstance(stored, dict):
        return stored
    try:
        return study_to_data(study_from_data(stored))
    except ValueError:  # not readable by this version: compared as stored, so the refusal names the field
        return stored


def short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_difference(stored: Mapping[str, Any], mine: Mapping[str, Any], prefix: str = "") -> str:
    """The first field where two definitions differ, as ``field stored X here Y``."""
    for key in sorted(set(stored) | set(mine)):
        a, b = stored.get(key), mine.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found = first_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key} stored {short(a)}, here {short(b)}"
    return ""


def check_budget(study: optuna.Study, budget: ProxyBudget) -> None:
    """Refuse to add trials of another proxy budget (another device's, or a changed definition's) to a study:
    their PSNRs are not comparable, and a repeat would be answered with the other budget's result."""
    want = budget.as_dict()
    stored = study.user_attrs.get(keys.STUDY_PROXY)
    if stored is None:  # made before the budget was stored: the budget its trials recorded
        trained = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        stored = next((t.user_attrs[keys.PROXY] for t in trained if keys.PROXY in t.user_attrs), want)
    if stored != want:
        diff = ", ".join(f"{k} {stored.get(k)!r} here {want[k]!r}" for k in want if stored.get(k) != want[k])
        raise InputError(
            f"--study: {study.study_name!r} was trained with another proxy budget ({diff}): its PSNRs are not"
            " comparable with this worker's; use another storage, or --study-name NEW for a new study"
        )


def check_data(study: optuna.Study, data: Mapping[str, Any]) -> None:
    """Refuse to add trials trained or validated on other data than the study's (recorded at creation; studies
    made before: the bundled photos): their PSNRs are not comparable, and a repeat would be answered with the
    other data's result."""
    stored = study.user_attrs.get(keys.STUDY_DATA)
    if data_key(stored) != data_key(data):
        made = describe_data(stored) if stored else "the bundled photos: it was made before data were recorded"
        raise InputError(
            f"--study: {study.study_name!r} was made with other data ({made}; here {describe_data(data)}): its"
            " PSNRs are not comparable with this worker's; give the same --data and --val-data (in the same order),"
            " or use another storage or study name"
        )


WHOLE_WAIT_SECONDS = 15.0  # how long a worker waits for a study another worker is still creating


def wait_until_whole(study: optuna.Study) -> None:
    """Another worker may have created the study a moment ago and still be writing its attributes (the
    initialisation rule comes last): wait for it, so the checks read a whole study.  A study with a finished
    trial is whole already (its creator was done before any trial ran).  A study made before the rule was
    recorded never gets it; the wait ends and ``check_init_rule`` refuses it."""
    deadline = time.monotonic() + WHOLE_WAIT_SECONDS
    while not is_whole(study) and time.monotonic() < deadline:
        time.sleep(0.2)


def is_whole(study: optuna.Study) -> bool:
    if keys.INIT_RULE in study.user_attrs:
        return True
    return any(t.state.is_finished() for t in study.get_trials(deepcopy=False))


def check_init_rule(study: optuna.Study) -> None:
    """Refuse a study trained under another weight-initialisation rule: its PSNRs are not comparable with
    the trials this version would add (BENCHMARKS.md, "Unit initialisation")."""
    recorded = study.user_attrs.get(keys.INIT_RULE)
    if recorded != INIT_RULE:
        made = f"the {recorded!r} rule" if recorded else "an older rule"
        raise InputError(
            f"--study: {study.study_name!r} was trained with {made} for initialising multi-scale units, this "
            f"version uses {INIT_RULE!r}: new trials would not be comparable; search it under a new --storage"
        )


def check_hashes(study: optuna.Study) -> None:
    """Refuse a study whose recorded spec hashes are not this version's (they were computed by an older rule)."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if keys.SPEC in t.user_attrs and keys.SPEC_HASH in t.user_attrs:
            now = load_spec(str(t.user_attrs[keys.SPEC])).spec_hash
            if now != t.user_attrs[keys.SPEC_HASH]:
                raise InputError(
                    f"--study: {study.study_name!r} was recorded with an older spec hash (trial {t.number}: "
                    f"{t.user_attrs[keys.SPEC_HASH]}, now {now}); its repeats may hold another network's "
                    "results: search it under a new --storage"
                )
