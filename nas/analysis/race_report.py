"""What a race decided, as ``verdict.json`` data and as sentences: every pair, the groups, the cost.

Every pair of candidates is decided at every budget that has runs (not only the pairs the race trained
for), with the race's margin; the verdict names what it rests on (seeds, images, degrees of freedom).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.analysis.equivalence import cheapest_equivalent, equivalence_groups
from nas.analysis.race import Agreement, Candidate, Policy, RaceState, matters
from nas.analysis.verdict import PairVerdict, Run, compare_all, need_of
from nas.jsonvalues import finite_or_none


@dataclass(frozen=True)
class RaceReport:
    """The verdict of a race, for ``verdict.json``, the page and the terminal."""

    candidates: tuple[Candidate, ...]
    runs: tuple[Run, ...]
    policy: Policy
    state: RaceState
    verdicts: dict[float, list[PairVerdict]]  # every pair at every budget with runs
    agreements: dict[float, Agreement]
    trained_here: int = 0

    @property
    def names(self) -> dict[str, str]:
        return {c.arch: c.name for c in self.candidates}

    @property
    def target(self) -> float:
        return self.policy.target

    def means(self, budget: float) -> dict[str, float]:
        """Each candidate's mean PSNR over its runs at ``budget`` (on the images every run shares)."""
        at = [r for r in self.runs if r.budget == budget]
        images = sorted(set.intersection(*(set(r.images) for r in at))) if at else []
        out: dict[str, list[float]] = {}
        for r in at:
            out.setdefault(r.arch, []).append(float(np.mean([r.images[k] for k in images])))
        return {a: float(np.mean(v)) for a, v in out.items()}

    def seeds(self, arch: str, budget: float) -> int:
        return sum(r.arch == arch and r.budget == budget for r in self.runs)

    def ranked(self, budget: float) -> list[str]:
        means = self.means(budget)
        return sorted(means, key=lambda a: -means[a])

    def groups(self, budget: float) -> list[list[str]]:
        return equivalence_groups(self.ranked(budget), self.verdicts.get(budget, []))

    def units(self) -> float:
        """Compute spent, in trainings at the target budget (a 1x run of a 10x race counts 0.1; a nested branch
        its own decay)."""
        return float(sum(r.compute for r in self.runs) / self.target)

    def uniform(self) -> tuple[int, int]:
        """(seeds, trainings) of uniform allocation: every candidate with every seed the race gave any candidate
        at the target budget (the seeds are common random numbers: these would reach at least the same decisions)."""
        seeds = max((self.seeds(c.arch, self.target) for c in self.candidates), default=0)
        return seeds, seeds * len(self.candidates)


def race_report(
    candidates: Sequence[Candidate],
    runs: Sequence[Run],
    policy: Policy,
    state: RaceState,
    agreements: Mapping[float, Agreement],
    trained_here: int = 0,
) -> RaceReport:
    """Decide every pair at every budget that has runs, with the race's margin."""
    pairs = list(itertools.combinations([c.arch for c in candidates], 2))
    verdicts = {}
    for budget in policy.budgets:
        at = [r for r in runs if r.budget == budget]
        if at:
            verdicts[budget] = compare_all(at, pairs, policy.margin)
    return RaceReport(tuple(candidates), tuple(runs), policy, state, verdicts, dict(agreements), trained_here)


def report_data(report: RaceReport, context: Mapping[str, Any]) -> dict[str, Any]:
    """``verdict.json``: the margin, every candidate, every pair, groups, the cheapest equivalent, the cost."""
    m = report.policy.margin
    cands = {c.arch: c for c in report.candidates}
    named = set(report.policy.pairs)
    target = report.target
    return {
        **context,
        "rope_db": m.rope,
        "alpha": m.alpha,
        "rule": m.rule,
        "looks": m.looks,
        "images": m.images,
        "budgets": list(report.policy.budgets),
        "target_budget": target,
        "budgets_skipped": {f"{b:g}": why for b, why in report.state.skipped.items()},
        "agreements": {f"{b:g}": {"usable": a.usable, "why": a.why} for b, a in report.agreements.items()},
        "candidates": [candidate_data(report, c) for c in report.candidates],
        "pairs": [
            {
                **v.as_dict(),
                "a_name": cands[v.a].name,
                "b_name": cands[v.b].name,
                "matters": matters(cands[v.a], cands[v.b], named),
                "need": need_data(v, report),
            }
            for budget in sorted(report.verdicts)
            for v in report.verdicts[budget]
        ],
        "left": {report.names[a]: why for a, why in report.state.left.items()},
        "groups": {f"{b:g}": [[report.names[a] for a in g] for g in report.groups(b)] for b in report.verdicts},
        "cheapest_equivalent_to_best": cheapest_data(report),
        "trainings": trainings_data(report),
        "stopped": report.state.stopped or "not finished: run the same command again to go on",
    }


def candidate_data(report: RaceReport, c: Candidate) -> dict[str, Any]:
    return {
        "arch": c.arch,
        "name": c.name,
        "costs": dict(c.costs),
        "seeds": {f"{b:g}": report.seeds(c.arch, b) for b in report.verdicts},
        "mean_psnr": {f"{b:g}": finite_or_none(report.means(b).get(c.arch, math.nan)) for b in report.verdicts},
        "left": report.state.left.get(c.arch),
    }


def need_data(v: PairVerdict, report: RaceReport) -> dict[str, Any] | None:
    if v.decision != "open":
        return None
    need = need_of(v, report.policy.margin)
    return {"seeds": need.seeds, "trainings": need.trainings, "text": need.text()}


def cheapest_data(report: RaceReport) -> list[dict[str, Any]]:
    ranked = report.ranked(report.target)
    if not ranked:
        return []
    costs = {c.arch: c.costs for c in report.candidates}
    found = cheapest_equivalent(ranked[0], costs, report.verdicts.get(report.target, []))
    names = report.names
    return [
        {
            "objective": x.objective,
            "architecture": names[x.arch],
            "cost": x.cost,
            "best": names[x.best],
            "best_cost": x.best_cost,
            "equivalent_to_best": [names[a] for a in x.candidates],
        }
        for x in found
    ]


def cheapest_line(x: Mapping[str, Any]) -> str:
    head = f"cheapest in {x['objective']} practically equivalent to the best ({x['best']}): "
    if len(x["equivalent_to_best"]) == 1:
        return head + "the best itself (nothing is decided equivalent to it)"
    return head + f"{x['architecture']} ({x['cost']:.4g} against {x['best_cost']:.4g})"


def trainings_data(report: RaceReport) -> dict[str, Any]:
    seeds, uniform = report.uniform()
    return {
        "runs": len(report.runs),
        "by_budget": {f"{b:g}": sum(r.budget == b for r in report.runs) for b in report.policy.budgets},
        "trained_by_this_worker": report.trained_here,
        "at_target_units": report.units(),
        "train_seconds": float(sum(r.seconds for r in report.runs)),
        "uniform_seeds": seeds,
        "uniform_trainings": uniform,
    }


# ---- sentences ----


def decided_first(v: PairVerdict) -> tuple[bool, float]:
    return v.decision == "open", -abs(v.difference) if math.isfinite(v.difference) else 0.0


def pair_lines(at: Sequence[PairVerdict], names: Mapping[str, str]) -> list[str]:
    """A sentence per pair; one line where every pair is open for the same want of data (a budget the race did not
    race on, one seed each: the same reason 21 times says nothing more; ``verdict.json`` keeps every pair)."""
    reasons = {v.reason for v in at}
    if len(at) > 1 and all(v.decision == "open" for v in at) and len(reasons) == 1:
        (reason,) = reasons
        if reason.startswith("not enough data"):
            return [f"  all {len(at)} pairs open: {reason}"]
    return ["  " + v.sentence(names) for v in sorted(at, key=decided_first)]


def report_lines(report: RaceReport, head: str) -> list[str]:
    """The verdict as the terminal shows it: the margin, each pair, who left, groups, cost, what is open."""
    m = report.policy.margin
    names = report.names
    lines = [f"{head}: {len(report.candidates)} candidates, {m.describe()}; target {report.target:g}x"]
    lines += [f"  {b:g}x not raced on: {why}" for b, why in report.state.skipped.items()]
    for budget in sorted(report.verdicts):
        at = report.verdicts[budget]
        images = at[0].images if at else 0
        seeds = ", ".join(f"{names[c.arch]} {report.seeds(c.arch, budget)}" for c in report.candidates)
        lines.append(f"at {budget:g}x ({images} validation images; seeds per candidate: {seeds}):")
        lines += pair_lines(at, names)
        groups = report.groups(budget)
        lines.append("  equivalence groups, best first: " + "; ".join(", ".join(names[a] for a in g) for g in groups))
    for arch, why in report.state.left.items():
        lines.append(f"left the race: {names[arch]}: {why}")
    lines += [cheapest_line(x) for x in cheapest_data(report)]
    for v, need in report.state.open:
        lines.append(f"open: {names[v.a]} vs {names[v.b]} at {v.budget:g}x: {need.text()}")
    t = trainings_data(report)
    lines.append(
        f"trainings: {t['runs']} runs ({t['at_target_units']:.1f} at {report.target:g}x in compute, "
        f"{t['trained_by_this_worker']} trained by this worker); uniform allocation (every candidate x every seed "
        f"used, at {report.target:g}x): {t['uniform_trainings']} ({len(report.candidates)} x {t['uniform_seeds']})"
    )
    lines.append(f"stopped: {report.state.stopped}" if report.state.stopped else
                 "not finished: run the same command again to go on (or more workers beside it)")  # fmt: skip
    return lines
