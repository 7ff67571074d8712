"""What a race would have trained under this checkout's planner, replayed from the runs a storage holds.

A race's stored runs are a pool: the planner is asked for its next trainings (two workers: its first two, as in
``nas.analysis.race_simulation.run_race``), each is taken from the pool, and the replay goes on until the planner
stops, or asks for a run the pool lacks (it says which: train it, or the replay cannot tell).  Run it with the
code of a commit to see what that commit's race would have spent on the same trainings, e.g. before and after a
change to who leaves the race.  Then the issue's yardstick on real runs: uniform designs fixed in advance (every
candidate with its first s seeds, decided once at the full alpha), for every s the storage holds, and whether each
removes the candidates the race removed and reaches its decisions:

    python -m benchmarks.race_replay --study ms3 --storage sqlite:///runs/verdict291/race.db \\
        --data ../shared/data/T91 --data ../shared/data/BSD200 --val-data ../shared/data/Set5 \\
        --val-data ../shared/data/Set14 --budgets 10
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from nas.analysis.race import RaceState, eliminate, pairs_that_matter, plan_race
from nas.analysis.race_simulation import deciding_once
from nas.analysis.verdict import Run, compare_all
from nas.errors import InputError
from nas.search.race import Race, RaceConfig, open_race
from nas.study.experimental import experimental_ok
from nas.study.storage import open_existing_study


@dataclass(frozen=True)
class Replay:
    """Where a replay ended: the planner's state, the runs it took in order, the runs it asked for that the pool
    lacked (skipped where a second worker's run was found beside them; the end where none was), the pool's size."""

    state: RaceState
    runs: list[Run]
    skipped: list[str]
    lacking: list[str]
    stored: int


def replay(r: Race) -> Replay:
    """Ask the planner for its next two trainings and answer from the pool, until it stops or asks only for runs
    the pool lacks."""
    pool = {(x.arch, x.budget, x.seed): x for x in r.runs()}
    cands, policy = [e.candidate for e in r.entrants], r.policy()
    taken: dict[tuple[str, float, int], Run] = {}
    skipped: list[str] = []
    while True:
        state = plan_race(cands, list(taken.values()), policy, r.agreements(list(taken.values())))
        asked = [*state.work, *state.spare][:2]
        found = [w for w in asked if (w.arch, w.budget, w.seed) in pool]
        lacking = [f"{r.names[w.arch]} seed {w.seed} at {w.budget:g}x" for w in asked if w not in found]
        if state.done or not found:
            return Replay(state, list(taken.values()), skipped, lacking, len(pool))
        skipped += [x for x in lacking if x not in skipped]
        for w in found:
            taken[(w.arch, w.budget, w.seed)] = pool[(w.arch, w.budget, w.seed)]


def report(r: Race, played: Replay) -> list[str]:
    names, state, runs = r.names, played.state, played.runs
    seeds = {names[e.candidate.arch]: sum(x.arch == e.candidate.arch for x in runs) for e in r.entrants}
    uniform = len(seeds) * max(seeds.values(), default=0)
    lines = [f"replayed {len(runs)} of the {played.stored} stored runs: "
             f"{', '.join(f'{n} {k}' for n, k in seeds.items())}"]  # fmt: skip
    if played.skipped:
        lines.append(f"skipped, asked for but not stored (a second worker's run beside one that was): "
                     f"{'; '.join(played.skipped)}")  # fmt: skip
    lines += [f"left: {names[a]}: {why}" for a, why in state.left.items()]
    lines.append(f"still in the race: {', '.join(names[a] for a in state.active)}")
    lines.append(f"stopped: {state.stopped}" if state.done else
                 f"the pool lacks what comes next: {'; '.join(played.lacking)}")  # fmt: skip
    lines.append(f"uniform allocation (every candidate x the most seeds any took): {uniform}; "
                 f"race / uniform {len(runs) / uniform:.2f}" if uniform else "nothing replayed")  # fmt: skip
    return lines


def fixed_designs(r: Race, state: RaceState) -> list[str]:
    """Every candidate x its first s seeds at the target, decided once at the full alpha, for each s the storage
    holds: what it removes and how many of the race's decisions it reaches (the fewest s that reach all of them is
    uniform allocation "reaching the same decisions")."""
    cands, policy, names = {e.candidate.arch: e.candidate for e in r.entrants}, deciding_once(r.policy()), r.names
    runs = [x for x in r.runs() if x.budget == policy.target]
    race = {(v.a, v.b): v.decision for v in state.verdicts.get(policy.target, []) if v.decision != "open"}
    pairs = pairs_that_matter(cands, list(cands), set(policy.pairs))
    lines: list[str] = []
    for s in itertools.count(1):
        lacking = [f"{names[a]} seed {k}" for a in cands for k in range(s) if not any(
            x.arch == a and x.seed == k for x in runs)]  # fmt: skip
        if lacking:
            return [*lines, f"uniform, {s} seeds each: the storage lacks {', '.join(lacking)}"]
        verdicts = compare_all([x for x in runs if x.seed < s], pairs, policy.margin)
        removed = eliminate(cands, list(cands), verdicts)
        reached = sum(race.get((v.a, v.b)) == v.decision for v in verdicts)
        same = "the same as the race" if set(removed) == set(state.left) else "not the race's"
        lines.append(f"uniform, {s} seed(s) each ({s * len(cands)} runs, one look at alpha "
                     f"{policy.margin.alpha:g}): removes {', '.join(names[a] for a in removed) or 'none'} ({same}); "
                     f"reaches {reached} of the race's {len(race)} decisions")  # fmt: skip
    return lines


def budgets_of(text: str) -> tuple[float, ...]:
    try:
        budgets = tuple(float(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not comma-separated numbers") from None
    if list(budgets) != sorted(set(budgets)) or budgets[0] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: budgets are positive and ascending")
    return budgets


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", required=True)
    p.add_argument("--storage", required=True)
    p.add_argument("--data", action="append", default=[], help="the race's training folders, as it was run")
    p.add_argument("--val-data", action="append", default=[], help="its validation folders")
    p.add_argument("--budgets", type=budgets_of, default=(10.0,), help="comma-separated, ascending; the last is the "
                   "target")  # fmt: skip
    most = RaceConfig.max_seeds
    p.add_argument("--max-seeds", type=int, default=most, help="the planner's seed limit per candidate, alpha spent "
                   f"over as many looks (default {most}, nas.verdict's)")  # fmt: skip
    args = p.parse_args(argv)
    if args.max_seeds < 1:
        p.error("--max-seeds: 1 or more")
    config = RaceConfig(args.study, args.storage, data=tuple(args.data), val_data=tuple(args.val_data),
                        budgets=args.budgets, max_seeds=args.max_seeds, report_only=True)  # fmt: skip
    try:
        open_existing_study(args.storage, args.study)  # a replay reads: never a new, empty storage
        with experimental_ok():
            r = open_race(config)
    except InputError as err:
        p.error(str(err))
    played = replay(r)
    if not played.stored:
        p.error(
            "no run of the race's candidates on this data at these budgets is stored: give the --data, --val-data "
            "and --budgets the race was run with"
        )
    print("\n".join([*report(r, played), *fixed_designs(r, played.state)]))


if __name__ == "__main__":
    main()
