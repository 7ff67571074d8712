"""A race: which training decides most next, who leaves, and when to stop (pure logic over recorded runs).

The candidates race through a ladder of budgets (times the proxy; the last is the target).  At a budget,
every candidate still in the race first gets ``min_seeds`` seeds; then every pair is decided
(``nas.analysis.verdict``) and a candidate leaves when another that costs no more is better by more than
the ROPE, or is cheaper and not worse than it by more than the ROPE (it would be dominated in practice).
Open pairs that matter (one could dominate the other: it costs no more on every objective, or the user
named the pair) get one more seed at a time, the pair that the fewest trainings would decide first.

A decision holds at the budget it was measured at.  A lower budget is raced on only where this space's
measurements show that its decisions agree with the target's (``Agreement``); otherwise it is skipped,
so a proxy-budget artifact (on ``ms3``: MS3 dominated at 1x, tied at 10x) cannot remove a candidate.

The race stops when no pair that matters is open, when more seeds cannot decide what is open (the
validation images limit it, or the difference sits on the ROPE's edge), or at the training cap.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nas.analysis.proxy_stats import rank_correlations
from nas.analysis.verdict import Margin, Need, PairVerdict, Run, compare_all, need_of


@dataclass(frozen=True)
class Candidate:
    """An architecture in the race: its key (spec hash), its name and its exact costs (minimised)."""

    arch: str
    name: str
    costs: Mapping[str, float]

    def no_costlier_than(self, other: Candidate) -> bool:
        return all(self.costs[k] <= other.costs[k] for k in self.costs)

    def cheaper_than(self, other: Candidate) -> bool:
        """No costlier on every objective and strictly cheaper on one."""
        return self.no_costlier_than(other) and any(self.costs[k] < other.costs[k] for k in self.costs)


@dataclass(frozen=True)
class Agreement:
    """Whether a lower budget's decisions may stand for the target's, and the measurement that says so."""

    budget: float
    usable: bool
    why: str


AGREEMENT_MIN_ARCHS = 5
AGREEMENT_MIN_TAU = 0.5  # the lower end of Kendall tau's 95 % interval must reach this


def agreement(runs: Sequence[Run], low: float, target: float, rope: float, seed: int = 0) -> Agreement:
    """Whether ``low``'s decisions may stand for ``target``'s: the architectures' mean PSNRs rank alike (Kendall
    tau) and every pair more than ``rope`` apart at ``low`` is so, the same way, at ``target``.

    Usable only when at least ``AGREEMENT_MIN_ARCHS`` architectures were measured at both, the lower end of the
    bootstrap interval of tau reaches ``AGREEMENT_MIN_TAU``, and no gap breaks: ranks alone let a budget whose gaps
    are wider than the target's through (on ``ms3`` with the 291 set, cosine 3x ranked like 10x while MS3-L's gaps at
    3x were several times its gaps at 10x: BENCHMARKS.md, "Nested budgets"), and a candidate would leave on such a gap.
    """
    means = {b: _means([r for r in runs if r.budget == b]) for b in (low, target)}
    both = sorted(set(means[low]) & set(means[target]))
    if len(both) < AGREEMENT_MIN_ARCHS:
        return Agreement(low, False, f"not measured: {len(both)} architecture(s) at both {low:g}x and {target:g}x"
                         f" ({AGREEMENT_MIN_ARCHS} needed)")  # fmt: skip
    x, y = [means[low][a] for a in both], [means[target][a] for a in both]
    c = rank_correlations(x, y, n_boot=2000, rng=np.random.default_rng(seed))
    ranks = f"Kendall tau {c.kendall_tau:+.2f} [{c.tau_low:+.2f}, {c.tau_high:+.2f}] over {len(both)} architectures"
    if c.tau_low < AGREEMENT_MIN_TAU:
        return Agreement(low, False, f"{low:g}x does not agree beyond noise with {target:g}x: {ranks}")
    apart, broken = gaps_that_break(means[low], means[target], both, rope)
    if broken:
        why = f"{low:g}x ranks like {target:g}x ({ranks}) but its gaps do not hold: {broken} of {apart} pair(s)"
        return Agreement(low, False, f"{why} more than {rope:g} dB apart at {low:g}x are not at {target:g}x")
    return Agreement(low, True, f"{low:g}x agrees with {target:g}x: {ranks}; the {apart} pair(s) more than"
                     f" {rope:g} dB apart at {low:g}x are so at {target:g}x")  # fmt: skip


def gaps_that_break(
    low: Mapping[str, float], target: Mapping[str, float], archs: Sequence[str], rope: float
) -> tuple[int, int]:
    """How many pairs are more than ``rope`` apart at the low budget, and how many of them are not, the same way, at
    the target (a decision that the low budget would make and the target would not)."""
    apart = broken = 0
    for a, b in itertools.combinations(archs, 2):
        d_low, d_target = low[a] - low[b], target[a] - target[b]
        if abs(d_low) > rope:
            apart += 1
            broken += not (abs(d_target) > rope and (d_target > 0) == (d_low > 0))
    return apart, broken


def _means(runs: Sequence[Run]) -> dict[str, float]:
    by: dict[str, list[float]] = {}
    for r in runs:
        by.setdefault(r.arch, []).append(float(np.mean(list(r.images.values()))))
    return {a: float(np.mean(v)) for a, v in by.items()}


@dataclass(frozen=True)
class Policy:
    """How the race spends compute."""

    margin: Margin
    budgets: tuple[float, ...]  # ascending; the last is the target
    min_seeds: int = 2
    max_seeds: int = 8  # per candidate and budget
    max_trainings: int | None = None
    pairs: tuple[tuple[str, str], ...] = ()  # pairs the user wants decided whatever their costs

    def __post_init__(self) -> None:
        if not self.budgets or list(self.budgets) != sorted(set(self.budgets)) or self.budgets[0] <= 0:
            raise ValueError(f"budgets: positive and ascending, got {self.budgets}")
        if not 1 <= self.min_seeds <= self.max_seeds:
            raise ValueError(f"seeds: need 1 <= min_seeds <= max_seeds, got {self.min_seeds}, {self.max_seeds}")

    @property
    def target(self) -> float:
        return self.budgets[-1]


@dataclass(frozen=True)
class Work:
    """One training to run: an architecture at a budget with a seed, and why it is next."""

    arch: str
    budget: float
    seed: int
    why: str


@dataclass
class RaceState:
    """Where the race stands: decisions per budget, who left and why, what to train next, or why it stopped."""

    verdicts: dict[float, list[PairVerdict]] = field(default_factory=dict)
    left: dict[str, str] = field(default_factory=dict)  # arch -> why it left the race
    active: list[str] = field(default_factory=list)
    work: list[Work] = field(default_factory=list)
    spare: list[Work] = field(default_factory=list)  # worth training while another worker holds every item of work
    open: list[tuple[PairVerdict, Need]] = field(default_factory=list)  # open pairs that matter, with estimates
    skipped: dict[float, str] = field(default_factory=dict)  # budgets not raced on, and why
    stopped: str = ""  # why the race is over ("" while work remains)
    spent: int = 0

    @property
    def done(self) -> bool:
        return bool(self.stopped)


def matters(a: Candidate, b: Candidate, named: set[tuple[str, str]]) -> bool:
    """Whether the pair's decision can change the front (one costs no more than the other), or was asked for."""
    return a.no_costlier_than(b) or b.no_costlier_than(a) or (a.arch, b.arch) in named or (b.arch, a.arch) in named


def pairs_that_matter(
    cands: Mapping[str, Candidate], archs: Sequence[str], named: set[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The pairs among ``archs`` whose decision can change the front, or that the user named (``matters``)."""
    return [(a, b) for a, b in itertools.combinations(archs, 2) if matters(cands[a], cands[b], named)]


def leave_reason(loser: Candidate, winner: Candidate, v: PairVerdict) -> str | None:
    """Why ``loser`` leaves, given ``v`` = verdict on winner - loser (None: it stays).

    Against a cheaper winner one side is enough: the loser's lead, if it has one, is within the ROPE (the lower
    end of ``v``'s interval above ``-rope``: a one-sided test at the per-look alpha, the same as either half of
    TOST).  Whether it is then equivalent or worse does not change the front, and showing that it is not worse
    by more than the ROPE as well took most of a race's seeds where the costlier member was a little worse."""
    if not winner.no_costlier_than(loser):
        return None
    if v.decision == "better":
        return (f"worse than {winner.name} by more than {v.rope:g} dB at {v.budget:g}x "
                f"({-v.difference:+.3f} dB [{-v.high:+.3f}, {-v.low:+.3f}]) and not cheaper")  # fmt: skip
    if not winner.cheaper_than(loser):
        return None
    if v.decision == "equivalent":
        return f"practically equivalent to {winner.name} at {v.budget:g}x (within +-{v.rope:g} dB), which costs less"
    if v.low > -v.rope:
        return (f"not better than {winner.name} by more than {v.rope:g} dB at {v.budget:g}x "
                f"({-v.difference:+.3f} dB, at most {-v.low:+.3f}), which costs less")  # fmt: skip
    return None


def costlier(a: Candidate, b: Candidate) -> str | None:
    """The member of the pair that costs more (the other is cheaper), or None where neither is."""
    return b.arch if a.cheaper_than(b) else a.arch if b.cheaper_than(a) else None


def eliminate(cands: Mapping[str, Candidate], active: list[str], verdicts: Sequence[PairVerdict]) -> dict[str, str]:
    """Who leaves, one at a time (each time the one beaten by the best-scoring winner), until none does."""
    by_pair = {(v.a, v.b): v for v in verdicts} | {(v.b, v.a): v.flipped() for v in verdicts}
    left: dict[str, str] = {}
    while True:
        still = [a for a in active if a not in left]
        found = [
            (by_pair[(w, lo)].difference, lo, why)
            for w, lo in itertools.permutations(still, 2)
            if (w, lo) in by_pair and (why := leave_reason(cands[lo], cands[w], by_pair[(w, lo)])) is not None
        ]
        if not found:
            return left
        _, loser, why = max(found)
        left[loser] = why


def seeds_at(runs: Sequence[Run], arch: str, budget: float) -> set[int]:
    return {r.seed for r in runs if r.arch == arch and r.budget == budget}


def next_seed_work(pair: PairVerdict, runs: Sequence[Run], budget: float, need: Need) -> list[Work]:
    """The trainings that give both members of ``pair`` one more common seed."""
    a, b = seeds_at(runs, pair.a, budget), seeds_at(runs, pair.b, budget)
    seed = next(s for s in itertools.count() if not (s in a and s in b))
    why = f"open pair {pair.a[:8]} vs {pair.b[:8]}: {need.text()}"
    return [Work(arch, budget, seed, why) for arch, have in ((pair.a, a), (pair.b, b)) if seed not in have]


def minimum_work(active: Sequence[str], runs: Sequence[Run], budget: float, min_seeds: int) -> list[Work]:
    """Seed-major: every candidate's first seed before any candidate's second."""
    return [
        Work(arch, budget, seed, f"{min_seeds} seed(s) for every candidate at {budget:g}x")
        for seed in range(min_seeds)
        for arch in active
        if seed not in seeds_at(runs, arch, budget)
    ]


def spare_work(active: Sequence[str], runs: Sequence[Run], budget: float, policy: Policy) -> list[Work]:
    """The next seed of every candidate: once the minimum is in, the seed noise and the first open pairs need it,
    so a worker that finds every minimum training held by another trains one of these instead of waiting."""
    seed = policy.min_seeds
    if seed >= policy.max_seeds:
        return []
    why = f"a seed beyond the minimum while the minimum trains elsewhere (the seed noise needs it at {budget:g}x)"
    return [Work(arch, budget, seed, why) for arch in active if seed not in seeds_at(runs, arch, budget)]


def plan_race(
    candidates: Sequence[Candidate],
    runs: Sequence[Run],
    policy: Policy,
    agreements: Mapping[float, Agreement] | None = None,
) -> RaceState:
    """The race's state after ``runs``: decisions, who left, and the trainings that decide most next."""
    cands = {c.arch: c for c in candidates}
    state = RaceState(active=[c.arch for c in candidates], spent=len(runs))
    named = set(policy.pairs)
    for budget in policy.budgets:
        if budget != policy.target:
            found = (agreements or {}).get(budget)
            if found is None or not found.usable:
                state.skipped[budget] = found.why if found else "agreement with the target budget not measured"
                continue
        at = [r for r in runs if r.budget == budget and r.arch in cands]
        state.work = minimum_work(state.active, at, budget, policy.min_seeds)
        if state.work:
            state.spare = spare_work(state.active, at, budget, policy)
            return capped(state, policy)
        verdicts = compare_all(at, pairs_that_matter(cands, state.active, named), policy.margin)
        state.verdicts[budget] = verdicts
        state.left |= eliminate(cands, state.active, verdicts)
        state.active = [a for a in state.active if a not in state.left]
        state.open = [(v, need_of(v, policy.margin, costlier(cands[v.a], cands[v.b]))) for v in verdicts
                      if v.decision == "open" and v.a in state.active and v.b in state.active]  # fmt: skip
        state.work = more_seeds(state.open, at, budget, policy.max_seeds, cands)
        if state.work:
            return capped(state, policy)
    state.stopped = stop_reason(state)
    return state


def more_seeds(
    open_pairs: Sequence[tuple[PairVerdict, Need]], runs: Sequence[Run], budget: float, max_seeds: int,
    cands: Mapping[str, Candidate] | None = None,
) -> list[Work]:  # fmt: skip
    """Open pairs that more seeds can decide, the most decided per training first (``priority``); each pair
    contributes its next common seed."""
    work: list[Work] = []
    for v, need in sorted(open_pairs, key=lambda p: priority(p, open_pairs, cands)):
        if need.trainings is None or need.seeds is None or need.seeds > max_seeds:
            continue  # more seeds cannot decide it, or not within the seed limit
        taken = {(x.arch, x.seed) for x in work}
        work += [
            w for w in next_seed_work(v, runs, budget, need) if (w.arch, w.seed) not in taken and w.seed < max_seeds
        ]
    return work


def priority(
    pair: tuple[PairVerdict, Need], open_pairs: Sequence[tuple[PairVerdict, Need]],
    cands: Mapping[str, Candidate] | None,
) -> tuple[bool, float]:  # fmt: skip
    """Trainings per pair decided: deciding a pair can remove the costlier member, and with it its open pairs."""
    v, need = pair
    if need.trainings is None:
        return True, 0.0
    closes = 1
    if cands is not None:
        a, b = cands[v.a], cands[v.b]
        loser = b.arch if a.no_costlier_than(b) else a.arch if b.no_costlier_than(a) else None
        if loser is not None:
            closes += sum(loser in (w.a, w.b) for w, _ in open_pairs if w is not v)
    return False, max(need.trainings, 1) / closes


def capped(state: RaceState, policy: Policy) -> RaceState:
    if policy.max_trainings is not None and state.spent >= policy.max_trainings:
        state.work, state.spare, state.stopped = [], [], f"the cap of {policy.max_trainings} trainings is reached"
    return state


def stop_reason(state: RaceState) -> str:
    if not state.open:
        return "every pair that matters to the front is decided"
    undecidable = sum(n.trainings is None for _, n in state.open)
    if undecidable == len(state.open):
        return f"{len(state.open)} pair(s) stay open, and more seeds cannot decide them"
    return f"{len(state.open)} pair(s) stay open at the seed limit"
