"""What a race would have trained under this checkout's planner, replayed from the runs a storage holds.

A race's stored runs are a pool: the planner is asked for its next trainings (two workers: its first two, as in
``nas.analysis.race_simulation.run_race``), each is taken from the pool, and the replay goes on until the planner
stops, or asks for a run the pool lacks (it says which: train it, or the replay cannot tell).  Run it with the
code of a commit to see what that commit's race would have spent on the same trainings, e.g. before and after a
change to who leaves the race:

    python -m benchmarks.race_replay --study ms3 --storage sqlite:///runs/verdict291/race.db \\
        --data ../shared/data/T91 --data ../shared/data/BSD200 --val-data ../shared/data/Set5 \\
        --val-data ../shared/data/Set14 --budgets 10
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from nas.analysis.race import RaceState, plan_race
from nas.analysis.verdict import Run
from nas.errors import InputError
from nas.search.race import Race, RaceConfig, open_race
from nas.study.experimental import experimental_ok
from nas.study.storage import open_existing_study


def replay(r: Race) -> tuple[RaceState, list[Run], list[str], int]:
    """The planner's state when it stops or the pool runs dry, the runs it took in order, what it lacked, and how
    many runs the pool held."""
    pool = {(x.arch, x.budget, x.seed): x for x in r.runs()}
    cands, policy = [e.candidate for e in r.entrants], r.policy()
    taken: dict[tuple[str, float, int], Run] = {}
    while True:
        state = plan_race(cands, list(taken.values()), policy, r.agreements(list(taken.values())))
        asked = [*state.work, *state.spare][:2]
        found = [w for w in asked if (w.arch, w.budget, w.seed) in pool]
        if state.done or not found:
            lacking = [f"{r.names[w.arch]} seed {w.seed} at {w.budget:g}x" for w in asked if w not in found]
            return state, list(taken.values()), lacking, len(pool)
        for w in found:
            taken[(w.arch, w.budget, w.seed)] = pool[(w.arch, w.budget, w.seed)]


def report(r: Race, state: RaceState, runs: Sequence[Run], lacking: Sequence[str], stored: int) -> list[str]:
    names = r.names
    seeds = {names[e.candidate.arch]: sum(x.arch == e.candidate.arch for x in runs) for e in r.entrants}
    uniform = len(seeds) * max(seeds.values(), default=0)
    lines = [f"replayed {len(runs)} of the {stored} stored runs: {', '.join(f'{n} {k}' for n, k in seeds.items())}"]
    lines += [f"left: {names[a]}: {why}" for a, why in state.left.items()]
    lines.append(f"still in the race: {', '.join(names[a] for a in state.active)}")
    lines.append(f"stopped: {state.stopped}" if state.done else f"the pool lacks what comes next: {'; '.join(lacking)}")
    lines.append(f"uniform allocation (every candidate x the most seeds any took): {uniform}; "
                 f"race / uniform {len(runs) / uniform:.2f}" if uniform else "nothing replayed")  # fmt: skip
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
    args = p.parse_args(argv)
    config = RaceConfig(args.study, args.storage, data=tuple(args.data), val_data=tuple(args.val_data),
                        budgets=args.budgets, report_only=True)  # fmt: skip
    try:
        open_existing_study(args.storage, args.study)  # a replay reads: never a new, empty storage
        with experimental_ok():
            r = open_race(config)
    except InputError as err:
        p.error(str(err))
    print("\n".join(report(r, *replay(r))))


if __name__ == "__main__":
    main()
