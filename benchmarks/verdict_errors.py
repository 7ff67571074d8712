"""Error rates and compute of the verdict's rules under racing, on simulated trainings with known effects.

Why the race decides with TOST and spends alpha over a pair's looks: both rules, with and without spending,
side by side on the same simulated races (``nas.analysis.race_simulation``: the noise sizes measured at 10x).
For each scenario it prints the share of pairs decided wrongly (a decision on the ROPE's edge counts as wrong),
the share decided, and the trainings per race; then, for the 7 named variants of ``ms3`` at 10x and 20 sampled
architectures of ``layerwise`` at 3x, each with its measured costs and effects (and the effects 2, 4 and 8 times
as far apart: a space less flat), the race against uniform allocation (every candidate with as many seeds as the
race gave any of them), and against uniform designs fixed in advance (2, 3 or 4 seeds each, deciding once at the
full alpha): how often each removes every candidate the race removed.

    python -m benchmarks.verdict_errors --races 200
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nas.analysis.race import Candidate, Policy, RaceState
from nas.analysis.race_simulation import Noise, World, candidates_of, run_race, tally, uniform_to_remove
from nas.analysis.verdict import Margin, Rule, Run

SCENARIOS = {
    "on the edge: one at +rope, three at 0": [0.05, 0.0, 0.0, 0.0],
    "just outside: one at +0.06, three at 0": [0.06, 0.0, 0.0, 0.0],
    "just inside: one at +0.04, three at 0": [0.04, 0.0, 0.0, 0.0],
    "a spread like ms3 at 10x (7)": [0.06, 0.03, 0.02, 0.01, 0.0, 0.0, -0.01],
}
# the 7 named variants of ms3 (G MACs, M params) and 10x effects like the 2-seed means of BENCHMARKS.md
NAMED = {
    "standard": (42.76, 1.591, 0.057),
    "ms2-no-lh": (18.74, 1.206, 0.022),
    "ms2-no-hl": (18.74, 1.206, 0.0),
    "ms2": (20.78, 1.594, 0.014),
    "ms3": (17.16, 0.518, 0.0),
    "ms": (16.70, 0.817, 0.009),
    "ms3-l": (20.78, 1.594, -0.008),
}


@dataclass(frozen=True)
class Row:
    wrong: float
    decided: float
    trainings: float
    seconds: float


def measure(effects: Sequence[float], races: int, policy: Policy, costs: Sequence[float] | None = None) -> Row:
    pairs = decided = bad = trainings = 0
    began = time.perf_counter()
    for k in range(races):
        world = World.make(effects, Noise(), k)
        state, runs = run_race(world, candidates_of(effects, costs), policy)
        t = tally(world, state, policy)
        pairs, decided, bad, trainings = pairs + t.pairs, decided + t.decided, bad + t.wrong, trainings + len(runs)
    return Row(bad / pairs, decided / pairs, trainings / races, time.perf_counter() - began)


def policy(rule: Rule, spend: bool, min_seeds: int = 1, max_seeds: int = 8) -> Policy:
    looks = max_seeds - min_seeds + 1 if spend else 1
    return Policy(Margin(0.05, 0.05, "random", rule, looks), (10.0,), min_seeds, max_seeds)


# the 20 sampled architectures of the `layerwise` space at 3x the proxy (BENCHMARKS.md, "3x on 20 architectures of
# the layerwise space"): spec-hash prefix, G MACs, M params, 3x PSNR - the lowest of them
LAYERWISE_3X = {
    "60b712f7": (18.53, 0.941, 0.070),
    "23a68c4f": (21.01, 1.188, 0.059),
    "7a3cf7ce": (18.30, 0.932, 0.058),
    "c5b6b961": (18.01, 0.962, 0.052),
    "b532edbf": (22.32, 1.021, 0.051),
    "5454190d": (21.31, 0.886, 0.051),
    "b8c54908": (18.48, 0.957, 0.048),
    "e4fbdbe6": (18.08, 0.943, 0.044),
    "4a186d35": (17.76, 0.870, 0.043),
    "ab5f6a1c": (18.14, 0.819, 0.041),
    "bba22f2d": (18.50, 1.070, 0.037),
    "31b824d5": (20.08, 1.036, 0.036),
    "50a85980": (18.02, 0.939, 0.034),
    "54b279c0": (18.26, 0.968, 0.032),
    "4b041dcb": (19.25, 1.101, 0.019),
    "39d8880c": (22.65, 1.161, 0.018),
    "cedc5d45": (18.92, 1.102, 0.012),
    "cf078500": (22.44, 1.077, 0.007),
    "58e7362a": (17.39, 0.784, 0.005),
    "805729fa": (17.64, 0.832, 0.000),
}
SPACES = {"named variants of ms3 (10x)": NAMED, "20 of layerwise (3x)": LAYERWISE_3X}
SCALES = (1.0, 2.0, 4.0, 8.0)  # each space's effects times these: how the saving grows as the space spreads


def space_candidates(space: str, scale: float = 1.0) -> tuple[list[Candidate], list[float]]:
    """``space``'s candidates with their measured costs, named by index as the simulation names them, and their
    effects times ``scale``."""
    table = SPACES[space]
    cands = [Candidate(str(i), name, {"macs": c[0], "params": c[1]}) for i, (name, c) in enumerate(table.items())]
    return cands, [c[2] * scale for c in table.values()]


@lru_cache(maxsize=len(SPACES) * len(SCALES))
def simulated_races(races: int, space: str, scale: float = 1.0) -> tuple[tuple[World, RaceState, list[Run]], ...]:
    """``races`` races on ``space``'s candidates (their effects times ``scale``), run once for both comparisons."""
    cands, effects = space_candidates(space, scale)
    p = policy("tost", True)
    worlds = [World.make(effects, Noise(), k) for k in range(races)]
    return tuple((world, *run_race(world, cands, p)) for world in worlds)


def against_uniform(races: int, space: str, scale: float = 1.0) -> list[str]:
    """The race on ``space``'s candidates (their effects times ``scale``) against every candidate x every seed the
    race used x the target budget."""
    cands, _ = space_candidates(space, scale)
    p = policy("tost", True)
    rows = []
    for _, state, runs in simulated_races(races, space, scale):
        most = max(sum(r.arch == c.arch for r in runs) for c in cands)
        decided = sum(v.decision != "open" for v in state.verdicts[p.target])
        rows.append((len(runs), most * len(cands), decided, len(state.verdicts[p.target])))
    r = np.array(rows, dtype=float)
    return [
        f"{space}, effects x{scale:g}, {races} races: race {r[:, 0].mean():.1f} trainings, uniform (every candidate x "
        f"every seed the race used) {r[:, 1].mean():.1f}; race / uniform {np.mean(r[:, 0] / r[:, 1]):.2f}; "
        f"{r[:, 2].mean():.1f} of {r[:, 3].mean():.0f} pairs that matter decided"
    ]


def against_fixed_uniform(races: int, space: str) -> list[str]:
    """The race against uniform designs fixed in advance (every candidate x s seeds, one look at the full alpha):
    how often each removes every candidate the race removed, and the race's trainings against theirs."""
    cands, _ = space_candidates(space)
    p = policy("tost", True)
    spent, need = [], []
    for world, state, runs in simulated_races(races, space):
        spent.append(len(runs))
        need.append(uniform_to_remove(world, cands, set(state.left), p) or p.max_seeds + 1)
    race, need_a = float(np.mean(spent)), np.array(need)
    fixed = "; ".join(f"{s} seeds ({s * len(cands)} runs): {np.mean(need_a <= s):.0%}, race / it "
                      f"{race / (s * len(cands)):.2f}" for s in (2, 3, 4))  # fmt: skip
    return [f"{space}, {races} races: race {race:.1f} trainings; a uniform design removes all the race removed in "
            f"this share of races with {fixed}"]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--races", type=int, default=200, help="races per scenario and rule (default 200)")
    args = p.parse_args(argv)
    print(f"ROPE 0.05 dB, alpha 0.05, seeds 1..8 at one budget, noise {Noise()}")
    print(f"{'scenario':<42} {'rule':<6} {'alpha':<14} {'wrong':>6} {'decided':>8} {'trainings':>10}")
    for label, effects in SCENARIOS.items():
        races = args.races if len(effects) < 5 else max(10, args.races // 5)
        for rule in ("tost", "bayes"):
            for spend in (False, True):
                row = measure(effects, races, policy(rule, spend))
                how = "over 8 looks" if spend else "every look"
                print(f"{label:<42} {rule:<6} {how:<14} {row.wrong:>6.3f} {row.decided:>8.2f} {row.trainings:>10.1f}")
    races = {space: max(10, args.races // (5 * len(SPACES[space]) // 7)) for space in SPACES}  # fewer on more
    for space in SPACES:
        for scale in SCALES:
            for line in against_uniform(races[space], space, scale):
                print(line, flush=True)
    for space in SPACES:
        for line in against_fixed_uniform(races[space], space):
            print(line, flush=True)


if __name__ == "__main__":
    main()
