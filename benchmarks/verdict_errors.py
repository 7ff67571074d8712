"""Error rates and compute of the verdict's rules under racing, on simulated trainings with known effects.

Why the race decides with TOST and spends alpha over a pair's looks: both rules, with and without spending,
side by side on the same simulated races (``nas.analysis.race_simulation``: the noise sizes measured at 10x).
For each scenario it prints the share of pairs decided wrongly (a decision on the ROPE's edge counts as wrong),
the share decided, and the trainings per race; then, for the 7 named variants of ``ms3`` with their costs,
the race against uniform allocation (every candidate with as many seeds as the race gave any of them).

    python -m benchmarks.verdict_errors --races 200
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nas.analysis.race import Candidate, Policy
from nas.analysis.race_simulation import Noise, World, candidates_of, run_race, tally
from nas.analysis.verdict import Margin, Rule

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


def against_uniform(races: int) -> list[str]:
    """The race on the named variants against every candidate x every seed the race used x the target budget."""
    names = list(NAMED)
    cands = [Candidate(str(i), n, {"macs": NAMED[n][0], "params": NAMED[n][1]}) for i, n in enumerate(names)]
    effects = [NAMED[n][2] for n in names]
    p = policy("tost", True)
    rows = []
    for k in range(races):
        world = World.make(effects, Noise(), k)
        state, runs = run_race(world, cands, p)
        most = max(sum(r.arch == c.arch for r in runs) for c in cands)
        decided = sum(v.decision != "open" for v in state.verdicts[p.target])
        rows.append((len(runs), most * len(cands), decided, len(state.verdicts[p.target])))
    r = np.array(rows, dtype=float)
    return [
        f"named variants of ms3, {races} races: race {r[:, 0].mean():.1f} trainings, uniform (every candidate x "
        f"every seed the race used) {r[:, 1].mean():.1f}; race / uniform {np.mean(r[:, 0] / r[:, 1]):.2f}; "
        f"{r[:, 2].mean():.1f} of {r[:, 3].mean():.0f} pairs that matter decided"
    ]


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
    for line in against_uniform(max(10, args.races // 5)):
        print(line)


if __name__ == "__main__":
    main()
