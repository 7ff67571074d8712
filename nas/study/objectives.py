"""A stored study's objectives, by name: what its trials' values mean."""

from __future__ import annotations

import optuna

from nas.errors import InputError
from nas.study.naming import join_names
from studies import BASE_OBJECTIVES, LATENCY, Objective

KNOWN = {o.name: o for o in (*BASE_OBJECTIVES, LATENCY)}


def objectives_of(study: optuna.Study) -> tuple[Objective, ...]:
    """The study's objectives from its metric names and directions (unnamed ones by position)."""
    directions = [d.name.lower() for d in study.directions]
    names = study.metric_names or [o.name for o in BASE_OBJECTIVES][: len(directions)]
    names = [*names, *(f"objective_{i}" for i in range(len(names), len(directions)))]
    return tuple(_objective(n, d) for n, d in zip(names, directions, strict=True))


def _objective(name: str, direction: str) -> Objective:
    known = KNOWN.get(name)
    if known is not None and known.direction == direction:
        return known
    return Objective(name, "maximize" if direction == "maximize" else "minimize", name)


def check_msnas(study: optuna.Study) -> tuple[Objective, ...]:
    """The objectives of an msnas study; InputError for a study whose first ones are not PSNR, MACs, params."""
    found = objectives_of(study)
    if found[: len(BASE_OBJECTIVES)] != BASE_OBJECTIVES:
        got = join_names(f"{o.name} ({o.direction})" for o in found)
        want = join_names(f"{o.name} ({o.direction})" for o in BASE_OBJECTIVES)
        raise InputError(f"--study: {study.study_name!r} is not an msnas study (objectives {got}; expected {want})")
    return found


def names(objectives: tuple[Objective, ...]) -> str:
    """'PSNR (dB) max, MACs min, params min' for titles and summaries."""
    return ", ".join(f"{o.label} {'max' if o.maximise else 'min'}" for o in objectives)
