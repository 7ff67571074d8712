"""Study files: a study definition as TOML, so a researcher searches a space of their own without editing the package.

The file holds the fields of ``StudyDef`` (top level), ``SpaceDef`` (``[space]``), ``UnitChoices``
(``[space.unit]``), the two ``ProxyBudget`` s (``[cpu_proxy]``, ``[gpu_proxy]``) and the sub-space
predicates (``[subspaces]``); a field left out takes its default.  TOML has no null, so the three
values that can be None are written as words: a cross-path kernel ``"layer"`` (the kernel of the layer
replaced), a proxy ``width``/``blocks`` of ``"spec"`` (the spec's own); an unset ``max_gmacs``,
``max_mparams`` or ``width_per_branch`` is left out.  ``[named]`` holds a researcher's own named points,
``NAME = "spec.json"`` (relative to the file) or the spec's JSON inline; the definition keeps the canonical
JSON, so it travels with the study.  ``dumps`` writes any definition in this form
(``nas.search --study NAME --dump-study``) and ``loads`` reads it back to an equal definition; a bad
file is a ``StudyFileError`` naming the field and the allowed values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import tomllib

from space import PRESETS, load_spec
from space.arch import ArchSpec
from space.choices import SpaceDef, UnitChoices
from space.errors import SpecError
from space.features import compile_predicate
from space.layout import DEFAULT_BLOCKS, MAX_BLOCKS, MAX_WIDTH, layout_of
from studies.budget import BUDGET_FIELDS, ProxyBudget, budget_problem
from studies.definitions import STUDIES, StudyDef

NONE_WORDS = {"cross_kernel": "layer", "width": "spec", "blocks": "spec"}  # field -> how None is written
TABLES = (("space", SpaceDef), ("space.unit", UnitChoices), ("cpu_proxy", ProxyBudget), ("gpu_proxy", ProxyBudget))
PROXY_TABLES = ("cpu_proxy", "gpu_proxy")
SPACE_FIELDS = tuple(f.name for f in dataclasses.fields(SpaceDef))
MAX_TRIALS = 1_000_000
MAX_ZERO_COST_SHARE = 10  # the zero-cost scores may cost up to this many times the proxy training


SCALARS: dict[type, tuple[Callable[[Any], bool], str]] = {  # a TOML value's check, and what to say otherwise
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


class StudyFileError(ValueError):
    """A study file that cannot be read as a definition: one line naming the field."""


def study_to_data(study: StudyDef) -> dict[str, Any]:
    """The definition as plain TOML-able data (None written as a word or left out)."""
    return _plain(study)


def _plain(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = _plain(value)
        elif isinstance(value, tuple):
            out[f.name] = [NONE_WORDS[f.name] if v is None else v for v in value]
        elif isinstance(value, dict):
            out[f.name] = dict(value)
        elif value is None:
            if f.name in NONE_WORDS:
                out[f.name] = NONE_WORDS[f.name]
        else:
            out[f.name] = value
    return out


def study_from_data(data: Mapping[str, Any], source: str = "study file") -> StudyDef:
    """The definition the data describe; StudyFileError naming ``source`` and the field when they do not."""
    try:
        built = _build(StudyDef, data, "")
        assert isinstance(built, StudyDef)
        _check(built)
        built = dataclasses.replace(built, named={k: load_spec(v).canonical_json for k, v in built.named.items()})
    except StudyFileError as err:
        raise StudyFileError(f"{source}: {err}") from None
    return built


def _check(study: StudyDef) -> None:
    """What the dataclasses do not check themselves: a usable name, every number in its range, a space whose points
    are networks, proxy sizes those networks can take, predicates that compile (all before any study is made)."""
    if not study.name or not all(c.isalnum() or c in "-_." for c in study.name) or study.name.endswith(".fidelity"):
        raise StudyFileError(f"name: {study.name!r} must be letters, digits, '-', '_' or '.' (not ending .fidelity)")
    if not 1 <= study.n_trials <= MAX_TRIALS:
        raise StudyFileError(f"n_trials: {study.n_trials} (allowed: 1..{MAX_TRIALS})")
    if not (study.rope > 0 and study.rope < 100):
        raise StudyFileError(f"rope: {study.rope} must be a positive number of dB (below 100)")
    if not 0 <= study.zero_cost_share <= MAX_ZERO_COST_SHARE:
        share = study.zero_cost_share
        raise StudyFileError(f"zero_cost_share: {share} (allowed: 0..{MAX_ZERO_COST_SHARE}, times the proxy training)")
    for field_name in ("max_gmacs", "max_mparams"):
        limit = getattr(study, field_name)
        if limit is not None and not (math.isfinite(limit) and limit > 0):
            raise StudyFileError(f"{field_name}: {limit} must be a finite positive number (or left out: no limit)")
    points = [*_space_points(study.space), *_named_points(study)]
    for table in PROXY_TABLES:
        _check_budget(f"{table}.", getattr(study, table), points)
    for sub, predicate in study.subspaces.items():
        try:
            compile_predicate(predicate)
        except SpecError as err:
            raise StudyFileError(f"subspaces.{sub}: {err}") from None


def _space_points(space: SpaceDef) -> list[tuple[str, ArchSpec]]:
    """Every uniform point of the space as (how to name it, spec): a value out of range fails here, not in a trial."""
    if not 0 <= space.blocks <= MAX_BLOCKS:
        raise StudyFileError(f"space.blocks: {space.blocks} (allowed: 0 (the backbone's own) or 1..{MAX_BLOCKS})")
    per_branch = space.width_per_branch
    if per_branch is not None and not 1 <= per_branch <= MAX_WIDTH:
        raise StudyFileError(f"space.width_per_branch: {per_branch} (allowed: 1..{MAX_WIDTH}, or left out)")
    try:  # the backbone, scale, width and depth first: a point's own error would name another field
        layout_of(space.backbone, space.upscale, space.width, space.blocks or DEFAULT_BLOCKS.get(space.backbone, 1))
    except SpecError as err:
        raise StudyFileError(f"space.{err}") from None
    points = []
    choices = space.unit.grid()
    try:
        for choice in choices:
            points.append((f"the point {_choice_text(choice)}", space.build(choice)))
    except SpecError as err:
        where = f"space.{err}" if err.field in SPACE_FIELDS else f"space: {err} (at the point {_choice_text(choice)})"
        raise StudyFileError(where) from None
    return points


def _choice_text(choice: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in choice.items())


def _named_points(study: StudyDef) -> list[tuple[str, ArchSpec]]:
    """The study's own named points as (how to name it, spec); one that is no spec of the study's scale is refused."""
    points = []
    for name, spec in study.named.items():
        if name in PRESETS:
            raise StudyFileError(f"named.{name}: a built-in preset's name; give your point another")
        try:
            point = load_spec(spec)
        except SpecError as err:
            raise StudyFileError(f"named.{name}: {err}") from None
        if point.upscale != study.space.upscale:  # its proxy is validated at the study's scale
            raise StudyFileError(f"named.{name}: upscales x{point.upscale}, the study's space x{study.space.upscale}")
        points.append((f"the named point {name}", point))
    return points


def _check_budget(table: str, budget: ProxyBudget, points: Sequence[tuple[str, ArchSpec]] = ()) -> None:
    """Every number of the budget in its range, and its width and depth ones each point can be trained at."""
    problem = budget_problem(budget)
    if problem:
        raise StudyFileError(f"{table}{problem}")
    for label, spec in points:
        try:
            spec.resized(budget.width, budget.blocks)
        except SpecError as err:
            size = "width" if budget.width is not None else "blocks"
            raise StudyFileError(f"{table}{size}: {getattr(budget, size)} does not fit {label} ({err})") from None


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise StudyFileError(f"{prefix.rstrip('.') or 'the file'}: must be a table of fields")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise StudyFileError(f"{prefix}{unknown[0]}: no such field (allowed: {', '.join(names)})")
    values = {name: _value(hints[name], data[name], prefix + name) for name in names if name in data}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        text = str(err)
        if text.split(":", 1)[0] in names:  # the class named its field: give the full path to it
            raise StudyFileError(f"{prefix}{text}") from None
        raise StudyFileError(f"{prefix.rstrip('.') or 'study'}: {text}") from None


def _value(hint: Any, value: Any, where: str) -> Any:
    """``value`` checked against the field's type (tuples from arrays, None from its word)."""
    name = where.rsplit(".", 1)[-1]
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value, where + ".")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if not isinstance(value, list):
            raise StudyFileError(f"{where}: {value!r} must be an array")
        return tuple(_value(args[0], v, where) for v in value)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and value == NONE_WORDS.get(name):
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _value(option, value, where)
            except StudyFileError:
                continue
        words = f" or {NONE_WORDS[name]!r}" if name in NONE_WORDS else ""
        raise StudyFileError(f"{where}: {value!r} must be {_describe(hint)}{words}")
    if origin is typing.Literal:
        if value not in args:
            raise StudyFileError(f"{where}: {value!r} (allowed: {', '.join(map(str, args))})")
        return value
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise StudyFileError(f'{where}: must be a table of NAME = "TEXT"')
        return dict(value)
    if hint in SCALARS:
        accepts, wanted = SCALARS[hint]
        if not accepts(value):
            raise StudyFileError(f"{where}: {value!r} must be {wanted}")
        return float(value) if hint is float else value
    raise StudyFileError(f"{where}: unsupported field type {hint!r}")  # pragma: no cover - a new field's type


def _describe(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return " or ".join(getattr(a, "__name__", str(a)) for a in args)


def loads(text: str, source: str = "study file", folder: Path | None = None) -> StudyDef:
    """The definition in TOML text; a named point given as a path is read relative to ``folder``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise StudyFileError(f"{source}: not TOML ({err})") from None
    named = data.get("named")
    if isinstance(named, dict) and folder is not None:
        data["named"] = {k: _spec_text(v, folder) for k, v in named.items()}
    return study_from_data(data, source)


def _spec_text(value: Any, folder: Path) -> Any:
    """A named point's spec: JSON as written, or a path (relative to the study file) read as JSON text."""
    if not isinstance(value, str) or value.lstrip().startswith("{"):
        return value
    path = Path(value) if Path(value).is_absolute() else folder / value
    return str(path)


def load_study_file(path: str | Path) -> StudyDef:
    """The definition in a TOML file; StudyFileError (one line) when it cannot be read or is not one."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyFileError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise StudyFileError(f"{p}: cannot read ({err.__class__.__name__})") from None
    return loads(text, str(p), p.parent)


def proxy_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` items (``nas.search --proxy``) as proxy-budget fields; a value is read as in a study file
    (``peak_lr=1e-3``, ``width="spec"``), or taken as a word when it is none (``schedule=wsd``, ``width=spec``)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = (part.strip() for part in item.partition("="))
        if not sep or not name or not text:
            raise StudyFileError(f"{item!r} must read FIELD=VALUE (fields: {', '.join(BUDGET_FIELDS)})")
        if name not in BUDGET_FIELDS:
            raise StudyFileError(f"{name}: no such field of the proxy budget (fields: {', '.join(BUDGET_FIELDS)})")
        out[name] = _toml_value(text)
    return out


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def with_proxy(study: StudyDef, overrides: Mapping[str, Any], source: str = "--proxy") -> StudyDef:
    """The definition with these fields changed in both proxy budgets (CPU and GPU), checked as a study file's
    budget is: StudyFileError naming ``source`` and the field when a value is of the wrong type or out of range.

    ``iterations`` without ``warmup`` keeps the warm-up's share of the run (``ms3``: 50 of 300, so 5 of 30), as
    ``ProxyBudget.scaled`` does: the study's recipe at another length, not a run that never leaves its warm-up."""
    if not overrides:
        return study
    data = study_to_data(study)
    for table in PROXY_TABLES:
        try:
            budget = _build(ProxyBudget, {**data[table], **overrides}, "")
            if "iterations" in overrides and "warmup" not in overrides:  # the study's recipe at another length
                before = getattr(study, table)
                budget = dataclasses.replace(
                    budget, warmup=round(before.warmup * budget.iterations / before.iterations)
                )
            _check_budget("", budget)
        except StudyFileError as err:
            raise StudyFileError(f"{source}: {err}") from None
        data[table] = _plain(budget)
    return study_from_data(data, source)


def renamed(study: StudyDef, name: str, source: str = "--study-name") -> StudyDef:
    """The definition under another name (a study of its own in the storage); a built-in study's name is refused
    (tools that know the built-ins would read the wrong definition)."""
    if name in STUDIES and name != study.name:
        raise StudyFileError(f"{source}: {name!r} is a built-in study's name; give yours another")
    return study_from_data({**study_to_data(study), "name": name}, source)


def dumps(study: StudyDef) -> str:
    """The definition as a TOML study file (every field written, defaults included)."""
    data = study_to_data(study)
    lines = [f"# msnas study file: python -m nas.search --study-file FILE (written by --dump-study {study.name})"]
    lines += _scalars(data)
    for path, _ in TABLES:
        table: Any = data
        for part in path.split("."):
            table = table.get(part, {})
        lines += ["", f"[{path}]", *_scalars(table)]
    if data.get("named"):
        lines += ["", "[named]", *(f"{_key(k)} = {_toml(v)}" for k, v in data["named"].items())]
    if data.get("subspaces"):
        lines += ["", "[subspaces]", *(f"{_key(k)} = {_toml(v)}" for k, v in data["subspaces"].items())]
    return "\n".join(lines) + "\n"


def _scalars(table: Mapping[str, Any]) -> list[str]:
    return [f"{k} = {_toml(v)}" for k, v in table.items() if not isinstance(v, dict)]


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
