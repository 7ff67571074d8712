"""Races on simulated trainings with known effects: error rates, who leaves, budget artifacts, what stays open."""

from __future__ import annotations

import math

import pytest

from nas.analysis.race import Candidate, Policy, agreement, plan_race
from nas.analysis.race_simulation import Noise, World, candidates_of, run_race, tally, wrong
from nas.analysis.verdict import Margin

ROPE, ALPHA = 0.05, 0.05


def policy(budgets: tuple[float, ...] = (10.0,), looks: int = 7, max_seeds: int = 8) -> Policy:
    return Policy(Margin(ROPE, ALPHA, "random", "tost", looks), budgets, min_seeds=2, max_seeds=max_seeds)


def rates(effects: list[float], races: int, p: Policy) -> tuple[float, float, int]:
    """(wrong decisions per pair, decided share, pairs) over ``races`` simulated races."""
    pairs = decided = bad = 0
    for k in range(races):
        world = World.make(effects, Noise(), k)
        t = tally(world, run_race(world, candidates_of(effects), p)[0], p)
        pairs, decided, bad = pairs + t.pairs, decided + t.decided, bad + t.wrong
    return bad / pairs, decided / pairs, pairs


def at_or_below(rate: float, nominal: float, n: int) -> bool:
    """``rate`` measured on ``n`` pairs is not above ``nominal`` by more than two binomial standard errors."""
    return rate <= nominal + 2 * math.sqrt(nominal * (1 - nominal) / n)


@pytest.mark.slow
def test_wrong_decisions_on_the_margins_edge_stay_at_the_nominal_rate():
    """Every pair's true difference is 0 or exactly the ROPE (the hardest case): 200 races, 1200 pairs."""
    rate, decided, n = rates([0.05, 0.0, 0.0, 0.0], 200, policy())
    assert at_or_below(rate, ALPHA, n // 2)  # half the pairs sit on the edge
    assert decided > 0.45  # the pairs at 0 are decided equivalent


@pytest.mark.slow
def test_without_spending_alpha_over_the_looks_the_edge_errs_far_more_often():
    """The same races, alpha not spent over the 7 looks: the measured reason the race spends it."""
    rate, _, n = rates([0.05, 0.0, 0.0, 0.0], 200, policy(looks=1))
    assert not at_or_below(rate, ALPHA, n // 2)


@pytest.mark.slow
def test_a_realistic_spread_is_mostly_decided_and_rarely_wrong():
    """Effects like the 7 named variants at 10x (BENCHMARKS.md): 25 races of 7 candidates."""
    rate, decided, n = rates([0.06, 0.03, 0.02, 0.01, 0.0, 0.0, -0.01], 25, policy())
    assert at_or_below(rate, ALPHA, n) and rate <= ALPHA
    assert 0.3 < decided < 1.0  # some pairs stay open, reported as such


def test_open_pairs_say_what_they_need():
    world = World.make([0.05, 0.0, 0.0], Noise(), 11)
    state, _ = run_race(world, candidates_of([0.05, 0.0, 0.0]), policy())
    assert state.done
    for v, need in state.open:
        assert v.decision == "open" and need.text()


def test_a_worse_and_costlier_candidate_leaves_and_trains_no_more():
    effects, costs = [0.3, 0.0, 0.29], [1.0, 2.0, 1.0]  # 1 is far worse and costs more
    world = World.make(effects, Noise(), 0)
    state, runs = run_race(world, candidates_of(effects, costs), policy())
    assert "by more than 0.05 dB at 10x" in state.left["1"] and "not cheaper" in state.left["1"]
    assert sorted(r.seed for r in runs if r.arch == "1") == [0, 1]  # its first two seeds decided it
    assert max(r.seed for r in runs) > 1  # the pair 0 vs 2 went on


def test_a_cheaper_equivalent_removes_the_costlier_one():
    effects, costs = [0.0, 0.0], [1.0, 2.0]
    state, _ = run_race(World.make(effects, Noise(images=40), 2), candidates_of(effects, costs), policy())
    assert "practically equivalent to arch0" in state.left.get("1", "") and "costs less" in state.left["1"]


def test_a_costlier_candidate_a_little_worse_leaves_once_its_lead_is_shown_within_the_rope():
    """Against a cheaper rival one side is enough: equivalence would also need its deficit (0.03 dB, near the
    ROPE's other edge) shown within the ROPE, which kept it in most of these races until the seed limit."""
    effects, costs = [0.0, -0.03], [1.0, 2.0]
    for k in range(10):
        state, runs = run_race(World.make(effects, Noise(), k), candidates_of(effects, costs), policy())
        assert "not better than arch0 by more than 0.05 dB at 10x" in state.left["1"], (k, state.stopped)
        assert len(runs) <= 6 and state.stopped == "every pair that matters to the front is decided"


def wrongly_left(effects: list[float], costs: list[float], races: int, p: Policy) -> float:
    """The share of races in which candidate 0, better than each cheaper rival by exactly the ROPE, left."""
    return sum("0" in run_race(World.make(effects, Noise(), k), candidates_of(effects, costs), p)[0].left
               for k in range(races)) / races  # fmt: skip


def test_a_costlier_candidate_better_by_the_rope_leaves_at_most_at_the_nominal_rate():
    """On the edge, leaving is wrong: the one-sided test at alpha spent over the looks keeps that at alpha; at
    alpha on every look it is not (400 races of 2 candidates)."""
    effects, costs = [ROPE, 0.0], [2.0, 1.0]
    assert at_or_below(wrongly_left(effects, costs, 400, policy()), ALPHA, 400)
    assert not at_or_below(wrongly_left(effects, costs, 400, policy(looks=1)), ALPHA, 400)


def test_a_lower_budget_without_measured_agreement_is_not_raced_on():
    """At 1x the order is reversed (a budget artifact); without agreement 1x is skipped and 10x decides."""
    effects = [0.2, 0.0, 0.0, 0.0, 0.0]
    cands = candidates_of(effects, [1.0, 1.0, 1.0, 1.0, 2.0])
    low = World.make([-x for x in effects], Noise(), 1)
    runs = [low.train(a, s, 1.0) for a in range(5) for s in range(2)]
    state = plan_race(cands, runs, policy((1.0, 10.0)), {1.0: agreement(runs, 1.0, 10.0, ROPE)})
    assert 1.0 in state.skipped and "not measured" in state.skipped[1.0]
    assert not state.left and {w.budget for w in state.work} == {10.0}


def test_a_lower_budget_that_agrees_is_raced_on_first():
    effects = [0.4, 0.1, 0.0, -0.1, -0.2]
    world = World.make(effects, Noise(), 3)
    both = [world.train(a, s, b) for a in range(5) for s in range(2) for b in (1.0, 10.0)]
    found = agreement(both, 1.0, 10.0, ROPE)
    assert found.usable and "agrees" in found.why
    state = plan_race(candidates_of(effects, [1, 1, 1, 1, 1]), both[:0], policy((1.0, 10.0)), {1.0: found})
    assert {w.budget for w in state.work} == {1.0}  # every candidate's first seeds at the cheap budget


def test_a_lower_budget_that_ranks_alike_but_with_wider_gaps_is_not_raced_on():
    """A budget artifact that ranks cannot see: the order holds, but gaps of 0.1-0.4 dB at 1x are 0.02-0.08 dB at
    10x (as MS3-L's were at 3x on the 291 set), so candidates would leave at 1x on gaps 10x does not have."""
    effects = [0.4, 0.3, 0.2, 0.1, 0.0]
    low, high = World.make(effects, Noise(), 5), World.make([x / 5 for x in effects], Noise(), 5)
    runs = [w.train(a, s, b) for w, b in ((low, 1.0), (high, 10.0)) for a in range(5) for s in range(2)]
    found = agreement(runs, 1.0, 10.0, ROPE)
    assert not found.usable and "ranks like 10x" in found.why and "gaps do not hold" in found.why, found.why


def test_an_unusable_agreement_is_said_with_its_numbers():
    world = World.make([0.0] * 6, Noise(), 4)
    runs = [world.train(a, 0, b) for a in range(6) for b in (1.0, 10.0)]
    found = agreement(runs, 1.0, 10.0, ROPE)
    assert not found.usable and "Kendall tau" in found.why and "over 6 architectures" in found.why


def test_the_cap_stops_the_race():
    p = Policy(Margin(ROPE, ALPHA, looks=7), (10.0,), 2, 8, max_trainings=4)
    state, _ = run_race(World.make([0.0, 0.0, 0.0], Noise(), 0), candidates_of([0.0, 0.0, 0.0]), p)
    assert "cap of 4 trainings" in state.stopped and state.spent >= 4


def test_wrong_counts_the_edge_as_wrong():
    assert wrong("better", ROPE, ROPE) and wrong("equivalent", ROPE, ROPE) and not wrong("open", ROPE, ROPE)
    assert not wrong("worse", -0.2, ROPE) and wrong("worse", 0.0, ROPE)


def test_bad_policies_are_refused():
    with pytest.raises(ValueError, match="ascending"):
        Policy(Margin(), (10.0, 1.0))
    with pytest.raises(ValueError, match="seeds"):
        Policy(Margin(), (1.0,), min_seeds=3, max_seeds=2)


def test_candidates_compare_costs_on_every_objective():
    a, b = Candidate("a", "a", {"macs": 1, "params": 2}), Candidate("b", "b", {"macs": 2, "params": 1})
    assert not a.no_costlier_than(b) and not b.no_costlier_than(a)
    assert Candidate("c", "c", {"macs": 1, "params": 1}).cheaper_than(a)


def test_a_budget_whose_pairs_all_want_the_same_data_is_one_line_and_a_decided_one_is_not():
    from nas.analysis.race_report import pair_lines
    from nas.analysis.verdict import compare_all

    world = World.make([0.0, 0.01, 0.02], Noise(), 5)
    names = {str(a): f"arch{a}" for a in range(3)}
    pairs = [("0", "1"), ("0", "2"), ("1", "2")]
    one_seed = compare_all([world.train(a, 0, 1.0) for a in range(3)], pairs, policy().margin)
    (line,) = pair_lines(one_seed, names)
    assert line.startswith("  all 3 pairs open: not enough data: the seed noise is not measured")
    many = compare_all([world.train(a, s, 1.0) for a in range(3) for s in range(6)], pairs, policy().margin)
    assert len(pair_lines(many, names)) == 3 and any("equivalent" in x for x in pair_lines(many, names))
