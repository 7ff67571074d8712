"""The named variants a search queues before the sampler draws: which ones (``--no-named``, ``--named-only``),
queueing them, and queueing again the ones whose trials failed.

A small run on a study with many named points (``layerwise``, ``carn-ms3``) would train only them; choosing none
or a few lets the run reach architectures the sampler draws.  The choice is the run's, not the study's: a later
run without it queues the named variants that have no trial yet.

Examples::

    queue = chosen_named(STUDIES["tiny"], no_named=False, only="standard,ms3")   # ("standard", "ms3")
    enqueue_named(study, STUDIES["tiny"], queue)
"""

from __future__ import annotations

from collections.abc import Collection

import optuna

from nas.errors import InputError
from nas.search.suggest import params_for
from nas.stops import is_stop
from nas.study import keys
from nas.study.naming import expected_variants, join_names, named_points
from space import load_spec
from studies import StudyDef

FAIL = optuna.trial.TrialState.FAIL
MAX_REQUEUES = 3  # a named variant that failed this often fails for a reason of its own: it is not queued again
# (a stop is not one: an operator who stops a search three times while it trains a variant keeps the variant)


def queueable(definition: StudyDef) -> list[str]:
    """The named variants a search of this definition can queue: those in its space, then its own outside it."""
    return list(dict.fromkeys([*expected_variants(definition), *outside_points(definition)]))


def chosen_named(definition: StudyDef, no_named: bool = False, only: str | None = None) -> tuple[str, ...] | None:
    """The named variants to queue: every one (None), none (``no_named``), or the comma-separated ``only``;
    InputError naming the flag and the allowed names when a name is not one of them."""
    if no_named and only is not None:
        raise InputError("--no-named and --named-only: choose one")
    if no_named:
        return ()
    if only is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in only.split(",") if n.strip()))
    allowed = queueable(definition)
    unknown = [n for n in names if n not in allowed]
    if not names or unknown:
        shown = repr(unknown[0]) if unknown else repr(only)
        raise InputError(
            f"--named-only: {shown} is no named variant of study {definition.name!r}"
            f" (allowed: {', '.join(allowed) or 'none'})"
        )
    return names


def enqueue_named(study: optuna.Study, definition: StudyDef, only: Collection[str] | None = None) -> list[str]:
    """Queue the named variants that lie in the space (or those of ``only``), so they are points of the study;
    then the study's own named points outside it, as extra points (no params: the sampler does not learn from them)."""
    names = named_points(definition)
    queued: list[str] = []
    for choice, spec in definition.space.uniform_points():
        name = names.get(spec.spec_hash)
        if name is not None and name not in queued and (only is None or name in only):
            attrs = {keys.PRESET: name, keys.QUEUED: True}
            study.enqueue_trial(params_for(definition.space, choice), user_attrs=attrs)
            queued.append(name)
    for name in outside_points(definition):
        if only is None or name in only:
            extra = {keys.PRESET: name, keys.QUEUED: True, keys.EXTRA_SPEC: definition.named[name]}
            study.enqueue_trial({}, user_attrs=extra)
            queued.append(name)
    return queued


def outside_points(definition: StudyDef) -> list[str]:
    """The study's own named points that are not points of its space."""
    inside = {spec.spec_hash for _, spec in definition.space.uniform_points()}
    return [name for name, spec in definition.named.items() if load_spec(spec).spec_hash not in inside]


def named_states(study: optuna.Study) -> dict[str, list[optuna.trial.TrialState]]:
    """The states of every trial of each named variant in the study."""
    states: dict[str, list[optuna.trial.TrialState]] = {}
    for t in study.get_trials(deepcopy=False):
        if keys.PRESET in t.user_attrs:
            states.setdefault(t.user_attrs[keys.PRESET], []).append(t.state)
    return states


def own_failures(study: optuna.Study) -> dict[str, int]:
    """For each named variant whose every trial FAILED: how many failed other than by a stop (``nas.stops``)."""
    trials: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        if keys.PRESET in t.user_attrs:
            trials.setdefault(t.user_attrs[keys.PRESET], []).append(t)
    return {
        name: sum(not is_stop(t.user_attrs.get(keys.FAIL_REASON)) for t in seen)
        for name, seen in trials.items()
        if {t.state for t in seen} == {FAIL}
    }


def requeue_failed_named(
    study: optuna.Study, definition: StudyDef, only: Collection[str] | None = None
) -> tuple[list[str], list[str]]:
    """Queue again the named variants (of ``only``; None: all) whose every trial FAILED (Ctrl-C, a killed worker,
    bad data), unless they failed ``MAX_REQUEUES`` times already other than by a stop; returns (queued again, given
    up)."""
    failed = own_failures(study)
    retry = {name for name, count in failed.items() if count < MAX_REQUEUES}
    again = retry if only is None else retry & set(only)
    return (enqueue_named(study, definition, again) if again else []), sorted(set(failed) - retry)


def enqueue_missing(study: optuna.Study, definition: StudyDef, only: Collection[str] | None = None) -> list[str]:
    """Queue the named variants (of ``only``; None: all) that have no trial yet: a study made by a run with
    ``--no-named`` or ``--named-only`` gets the others from a later run without it."""
    states = named_states(study)
    missing = {name for name in queueable(definition) if name not in states and (only is None or name in only)}
    return enqueue_named(study, definition, missing) if missing else []


def queue_on_resume(study: optuna.Study, definition: StudyDef, only: Collection[str] | None = None) -> list[str]:
    """Queue, on a resumed study, the named variants (of ``only``) that failed or have no trial yet; what was done,
    as lines for the terminal."""
    requeued, given_up = requeue_failed_named(study, definition, only)
    missing = enqueue_missing(study, definition, only)
    said = [
        (requeued, "queued again (their trials failed)"),
        (missing, "queued (no trial of them yet)"),
        (given_up, f"not queued again, failed {MAX_REQUEUES} times"),
    ]
    return [f"{words}: {join_names(names)}" for names, words in said if names]
