"""The report's sentences: the study in one line, the named variants' standing, and its warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import optuna

from nas.study import keys
from nas.study.naming import expected_variants, join_names, plural
from nas.study.records import ArchRecord
from studies import StudyDef


def trial_names(names: Mapping[str, int]) -> str:
    return join_names(f"{name} (trial {number})" for name, number in names.items())


def variant_lines(
    front: Mapping[str, int],
    dominated: Mapping[str, int],
    unevaluated: Mapping[str, str],
    expected: Sequence[str] | None,
) -> list[str]:
    """Plain sentences on the named variants: on the front, dominated, not evaluated, absent.

    ``front`` and ``dominated`` map a name to its trial number, ``unevaluated`` a name to why it
    has no result, ``expected`` lists the named variants of the study's space (None: unknown).
    """
    seen = {*front, *dominated, *unevaluated}
    lines = [
        f"Named variants on the Pareto front: {trial_names(front)}.",
        f"Named variants evaluated but not on the front: {trial_names(dominated)}.",
    ]
    if unevaluated:
        lines.append(f"Named variants not evaluated: {join_names(f'{n} ({why})' for n, why in unevaluated.items())}.")
    if expected is None:
        lines.append("The study is not defined in studies/, so named variants absent from it are unknown.")
    else:
        lines.append(
            f"Named variants of the study's space absent from the study: "
            f"{join_names(n for n in expected if n not in seen)}."
        )
    return lines


def unevaluated_variants(trials: Sequence[optuna.trial.FrozenTrial], evaluated: set[str]) -> dict[str, str]:
    """Named variants with trials but no result: why (over budget, failed, still running)."""
    out: dict[str, str] = {}
    for t in sorted(trials, key=lambda t: t.number):
        name = t.user_attrs.get(keys.PRESET)
        if name and name not in evaluated and t.state != optuna.trial.TrialState.COMPLETE:
            out.setdefault(name, t.user_attrs.get(keys.REJECTED) or t.state.name.lower())
    return out


def bicubic_warning(points: Sequence[ArchRecord]) -> list[str]:
    """A warning when architectures scored at or below bicubic: the proxy ranks noise among them."""
    below = [p.name for p in points if not p.learned]
    if not below:
        return []
    return [
        f"WARNING: {len(below)} of {len(points)} architectures score at or below bicubic upsampling "
        f"({join_names(below)}): the proxy learned nothing for them, so their ranking is noise."
    ]


def small_front_warning(front: Sequence[ArchRecord]) -> list[str]:
    """A warning when the front has two points or fewer: no knee to read, a hypervolume resting on one or two."""
    if len(front) > 2:
        return []
    return [
        f"WARNING: the Pareto front has {plural(len(front), 'point')}, so it has no knee (nas.export --knee takes the"
        " one with the fewest MACs) and its hypervolume rests on that few architectures."
    ]


def summary_line(
    name: str, trials: Sequence[optuna.trial.FrozenTrial], points: Sequence[ArchRecord], front: Sequence[ArchRecord]
) -> str:
    """Counts by state, architectures evaluated and front size."""
    states = [t.state.name.lower() for t in trials]
    counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    return (
        f"Study {name}: {plural(len(trials), 'trial')} ({counts}); "
        f"{plural(len(points), 'distinct architecture')} evaluated "
        f"(repeats and over-budget trials are not shown); {len(front)} on the Pareto front."
    )


def named_sentences(
    trials: Sequence[optuna.trial.FrozenTrial],
    points: Sequence[ArchRecord],
    on_front: Sequence[bool],
    definition: StudyDef | None,
) -> list[str]:
    """The sentences on the named variants for this study."""
    named = [(p.preset, p.number, f) for p, f in zip(points, on_front, strict=True) if p.preset]
    front = {name: number for name, number, f in named if f}
    dominated = {name: number for name, number, f in named if not f and name not in front}
    unevaluated = unevaluated_variants(trials, {*front, *dominated})
    expected = expected_variants(definition) if definition is not None else None
    return variant_lines(front, dominated, unevaluated, expected)
