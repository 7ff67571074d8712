"""What the pairwise decisions add up to: groups of practically equivalent architectures, and per cost objective
the cheapest architecture practically equivalent to the best (``verdict.json``'s ``groups`` and
``cheapest_equivalent_to_best``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nas.analysis.verdict import PairVerdict


def equivalence_groups(names: Sequence[str], verdicts: Sequence[PairVerdict]) -> list[list[str]]:
    """Groups whose members are pairwise practically equivalent, greedily from the best-scoring name on.

    ``names`` in order of mean PSNR, best first; a name joins the first group it is equivalent to as a whole.
    """
    equivalent = {(v.a, v.b) for v in verdicts if v.decision == "equivalent"}
    equivalent |= {(b, a) for a, b in equivalent}
    groups: list[list[str]] = []
    for name in names:
        home = next((g for g in groups if all((name, m) in equivalent for m in g)), None)
        if home is None:
            groups.append([name])
        else:
            home.append(name)
    return groups


@dataclass(frozen=True)
class Cheapest:
    """Per cost objective: the cheapest architecture practically equivalent to the best (or the best itself)."""

    objective: str
    arch: str
    best: str
    cost: float
    best_cost: float
    candidates: tuple[str, ...] = field(default=())  # the best and everything decided equivalent to it


def cheapest_equivalent(
    best: str, costs: Mapping[str, Mapping[str, float]], verdicts: Sequence[PairVerdict]
) -> list[Cheapest]:
    """For each cost objective, the cheapest architecture decided practically equivalent to ``best``."""
    equivalent = {v.b if v.a == best else v.a for v in verdicts if v.decision == "equivalent" and best in (v.a, v.b)}
    peers = [best, *sorted(equivalent)]
    objectives = sorted(next(iter(costs.values())).keys()) if costs else []
    out = []
    for objective in objectives:
        arch = min(peers, key=lambda n: (costs[n][objective], n != best))
        out.append(Cheapest(objective, arch, best, costs[arch][objective], costs[best][objective], tuple(peers)))
    return out
