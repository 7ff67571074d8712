"""The candidates of a race: a study's named variants, its front, everything it evaluated, or chosen by name.

Each is an ``Entrant``: the planner's ``Candidate`` (spec hash, name, exact costs from the spec alone) and the
spec that trains it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nas.analysis.fronts import front_mask
from nas.analysis.race import Candidate
from nas.errors import InputError
from nas.study.naming import named_points
from nas.study.records import ArchRecord
from space import analytic_cost, load_spec
from space.arch import ArchSpec
from studies import MACS, PARAMS, StudyDef


@dataclass(frozen=True)
class Entrant:
    """A candidate with what it takes to train it."""

    candidate: Candidate
    spec: ArchSpec
    preset: str | None


def entrant(spec: ArchSpec, name: str | None) -> Entrant:
    cost = analytic_cost(spec)
    costs = {MACS.name: float(cost.macs), PARAMS.name: float(cost.params)}
    return Entrant(Candidate(spec.spec_hash, name or spec.spec_hash[:8], costs), spec, name)


def named_entrants(definition: StudyDef) -> list[Entrant]:
    """The study's named variants that lie in its space, then its own named points (in the order searched)."""
    names = named_points(definition)
    found: dict[str, Entrant] = {}
    for _, spec in definition.space.uniform_points():
        name = names.get(spec.spec_hash)
        if name is not None and spec.spec_hash not in found:
            found[spec.spec_hash] = entrant(spec, name)
    for name, text in definition.named.items():
        spec = load_spec(text)
        found.setdefault(spec.spec_hash, entrant(spec, name))
    return list(found.values())


def choose(wanted: Sequence[str], definition: StudyDef, records: Sequence[ArchRecord]) -> list[Entrant]:
    """The candidates: ``named``, ``front`` (the study's evaluated front), ``all`` (every evaluated and named
    architecture), or names and spec-hash prefixes; each once, in the order asked."""
    named = named_entrants(definition)
    recorded_ones = [entrant(r.spec, r.preset) for r in records]
    pool = {e.candidate.arch: e for e in [*named, *recorded_ones]}
    out: dict[str, Entrant] = {}
    for token in wanted:
        if token == "named":
            picked = named
        elif token == "front":
            picked = [e for e, f in zip(recorded_ones, front_mask(records), strict=True) if f] if records else []
        elif token == "all":
            picked = list(pool.values())
        else:
            picked = [pool[resolve_one(token, {h: e.candidate.name for h, e in pool.items()})]]
        for e in picked:
            out.setdefault(e.candidate.arch, e)
    if len(out) < 2:
        raise InputError(f"--candidates: {', '.join(wanted)} gives {len(out)} architecture(s); a race needs 2 or more")
    return list(out.values())


def resolve_one(token: str, names: Mapping[str, str]) -> str:
    """The spec hash a name or a hash prefix stands for (``names``: spec hash -> name)."""
    found = sorted({h for h, n in names.items() if token in (n, h) or h.startswith(token)})
    if len(found) != 1:
        listed = ", ".join(sorted(names.values()))
        what = "matches none" if not found else f"matches {len(found)}"
        raise InputError(f"{token!r} {what} of the candidates ({listed})")
    return found[0]
