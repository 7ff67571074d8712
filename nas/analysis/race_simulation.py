"""Races on simulated trainings with known effects and noise: the error rates of the verdicts, measured.

A simulated training draws its per-image PSNRs from the crossed model the verdicts assume
(``nas.analysis.verdict``)::

    y[a, s, i] = mu_a + seed_s + image_i + u[a, s] + v[a, i] + e[a, s, i]

with the seed shift shared by every architecture (common random numbers), ``u`` the architecture-by-seed
noise, ``v`` a fixed image-by-architecture effect (drawn once per race: the images are a sample) and
``e`` what is left.  The defaults are the sizes measured at 10x the CPU proxy (BENCHMARKS.md, "Which rule, and
why alpha is spent over a race's looks").
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, replace

import numpy as np

from nas.analysis.race import Candidate, Policy, RaceState, eliminate, plan_race
from nas.analysis.verdict import Decision, PairVerdict, Run, compare_all


@dataclass(frozen=True)
class Noise:
    seed_shift: float = 0.02  # SD of the shift a seed gives every architecture alike
    arch_seed: float = 0.014  # SD of u: what a seed does to one architecture only
    arch_image: float = 0.02  # SD of v: how an architecture's gain varies from image to image
    residual: float = 0.01  # SD of e
    images: int = 19  # Set5 + Set14


@dataclass(frozen=True)
class World:
    """The truth of one simulated race: effects, image effects and the seeds' draws (made on demand)."""

    effects: np.ndarray  # true mean PSNR of each architecture (dB)
    image_effects: np.ndarray  # v[a, i]
    image_levels: np.ndarray
    noise: Noise
    seed: int

    @classmethod
    def make(cls, effects: Sequence[float], noise: Noise, seed: int) -> World:
        rng = np.random.default_rng([seed, 0])
        a = len(effects)
        return cls(
            np.asarray(effects, dtype=float),
            rng.normal(0, noise.arch_image, (a, noise.images)),
            rng.normal(30.0, 2.0, noise.images),
            noise,
            seed,
        )

    def train(self, arch: int, seed: int, budget: float) -> Run:
        """The run of architecture ``arch`` with ``seed``: the same numbers whenever it is asked for."""
        tag = round(budget * 1000)  # another budget: another training
        shared = np.random.default_rng([self.seed, 1, seed, tag]).normal(0, self.noise.seed_shift)
        rng = np.random.default_rng([self.seed, 2, seed, arch, tag])
        u = rng.normal(0, self.noise.arch_seed)
        e = rng.normal(0, self.noise.residual, self.noise.images)
        y = self.effects[arch] + shared + self.image_levels + u + self.image_effects[arch] + e
        return Run(str(arch), budget, seed, {f"img{i:02d}": float(v) for i, v in enumerate(y)})

    def true_difference(self, a: int, b: int, images: str) -> float:
        """The difference the verdict is about: over the image population (random) or these images (fixed)."""
        d = self.effects[a] - self.effects[b]
        return float(d + (self.image_effects[a] - self.image_effects[b]).mean()) if images == "fixed" else float(d)


def candidates_of(effects: Sequence[float], costs: Sequence[float] | None = None) -> list[Candidate]:
    """Candidates named by their index; ``costs`` (one objective) default to all equal (every pair matters)."""
    costs = costs if costs is not None else [1.0] * len(effects)
    return [Candidate(str(i), f"arch{i}", {"macs": float(c)}) for i, c in enumerate(costs)]


def run_race(
    world: World, candidates: Sequence[Candidate], policy: Policy, limit: int = 10_000
) -> tuple[RaceState, list[Run]]:
    """Train what the planner asks for (two workers: its first two trainings at a time) until it stops."""
    runs: dict[tuple[str, float, int], Run] = {}
    for _ in range(limit):
        state = plan_race(candidates, list(runs.values()), policy)
        if state.done:
            return state, list(runs.values())
        for w in [*state.work, *state.spare][:2]:  # two workers; the second takes spare work when work runs out
            runs[(w.arch, w.budget, w.seed)] = world.train(int(w.arch), w.seed, w.budget)
    raise RuntimeError("the simulated race did not stop")


def wrong(decision: Decision, truth: float, rope: float) -> bool:
    """Whether a decision contradicts the true difference (a decision on the ROPE's edge counts as wrong)."""
    if decision == "better":
        return truth <= rope
    if decision == "worse":
        return truth >= -rope
    if decision == "equivalent":
        return abs(truth) >= rope
    return False


@dataclass(frozen=True)
class Tally:
    pairs: int
    decided: int
    wrong: int
    trainings: int

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.pairs if self.pairs else 0.0


def final_verdicts(state: RaceState, target: float) -> list[PairVerdict]:
    return state.verdicts.get(target, [])


def tally(world: World, state: RaceState, policy: Policy) -> Tally:
    """Wrong decisions among the race's reported decisions at the target budget (the last look at each pair)."""
    verdicts = final_verdicts(state, policy.target)
    bad = sum(
        wrong(v.decision, world.true_difference(int(v.a), int(v.b), policy.margin.images), policy.margin.rope)
        for v in verdicts
    )
    decided = sum(v.decision != "open" for v in verdicts)
    return Tally(len(verdicts), decided, bad, state.spent)


def uniform(world: World, arches: int, seeds: int, policy: Policy) -> list[PairVerdict]:
    """Every candidate with ``seeds`` seeds at the target budget, every pair decided once."""
    runs = [world.train(a, s, policy.target) for s in range(seeds) for a in range(arches)]
    pairs = [(str(a), str(b)) for a in range(arches) for b in range(a + 1, arches)]
    return compare_all(runs, pairs, policy.margin)


def deciding_once(policy: Policy) -> Policy:
    """``policy`` for uniform allocation: it decides once, after all its trainings, so no looks to spend alpha over."""
    return replace(policy, margin=replace(policy.margin, looks=1))


def uniform_to_remove(
    world: World, candidates: Sequence[Candidate], left: Set[str], policy: Policy, most: int = 8
) -> int | None:
    """The fewest seeds per candidate with which uniform allocation removes every candidate in ``left`` (those a
    race removed; None: not within ``most`` seeds)."""
    cands, once = {c.arch: c for c in candidates}, deciding_once(policy)
    for seeds in range(2, most + 1):
        if left <= set(eliminate(cands, list(cands), uniform(world, len(candidates), seeds, once))):
            return seeds
    return None
