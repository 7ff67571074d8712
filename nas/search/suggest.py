"""The one place that calls ``trial.suggest_*``: an Optuna trial becomes an architecture spec.

Parameter names are stable and dotted: ``unit.<dimension>`` for choices shared by
every layer, ``layer.<i>.<dimension>`` for a layer-wise space.  Dimensions with a
single allowed value are not suggested at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from space.arch import ArchSpec
from space.choices import SpaceDef, UnitChoices

SHARED_BY_ALL_LAYERS = ("scales", "low_share")  # branches must match across layers


class Suggests(Protocol):
    """The part of optuna's Trial (and FixedTrial) the seam uses."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def spec_from_trial(trial: Suggests, space: SpaceDef) -> ArchSpec:
    """Suggest every dimension of the space (define-by-run) and build the spec."""
    if not space.layerwise:
        return space.build(_suggest(trial, "unit", space.unit, {}, None))
    shared = _suggest(trial, "unit", space.unit, {}, SHARED_BY_ALL_LAYERS)
    layers = [_suggest(trial, f"layer.{i}", space.unit, shared, None) for i in range(space.converted_layers())]
    return space.build(shared, layers)


def _suggest(
    trial: Suggests, prefix: str, unit: UnitChoices, fixed: Mapping[str, Any], only: tuple[str, ...] | None
) -> dict[str, Any]:
    choice = dict(fixed)
    for key, options in _open_dimensions(unit, choice, only):
        choice[key] = options[0] if len(options) == 1 else trial.suggest_categorical(f"{prefix}.{key}", options)
    return choice


def _open_dimensions(
    unit: UnitChoices, choice: dict[str, Any], only: tuple[str, ...] | None
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Dimensions still to choose, in order; later ones may depend on earlier answers."""
    while True:
        dims = unit.dimensions(choice)
        todo = [k for k in dims if k not in choice and (only is None or k in only)]
        if not todo:
            return
        yield todo[0], dims[todo[0]]


def params_for(space: SpaceDef, choice: Mapping[str, Any]) -> dict[str, Any]:
    """The trial parameters that make ``spec_from_trial`` build the uniform point ``choice`` (for enqueueing)."""
    recorder = _Recorder(choice)
    spec_from_trial(recorder, space)
    return recorder.params


class _Recorder:
    """A trial that answers from a fixed choice and records the parameter names asked."""

    def __init__(self, choice: Mapping[str, Any]) -> None:
        self.choice = choice
        self.params: dict[str, Any] = {}

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        value = self.choice[name.rsplit(".", 1)[1]]
        self.params[name] = value
        return value
