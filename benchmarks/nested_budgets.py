"""Nested WSD budgets against today's cosine proxy: the same ranking at each budget, for how much less compute?

For each candidate (the study's named variants by default) it trains, seed by seed, one nested WSD ladder (one
run gives 1x, 3x and 10x: ``nas.training.nested``) and the cosine proxy at every budget of the ladder, as records
of the study's companion (the race's keys: ``nas.verdict`` reuses them, and a killed run resumes), then prints per
budget the rank agreement of WSD with cosine (Kendall tau over the candidates), the mean PSNR difference, each
schedule's agreement with its own longest budget, and the compute of both ladders.

    python -m benchmarks.nested_budgets --study ms3 --storage sqlite:///runs/verdict291/race.db \\
        --data ../shared/data/T91 --data ../shared/data/BSD200 --val-data ../shared/data/Set5 \\
        --val-data ../shared/data/Set14 --budgets 1,3,10 [--shard 0/2]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from benchmarks.machine import describe
from nas.allocator import keep_freed_memory
from nas.analysis.proxy_stats import rank_correlations
from nas.analysis.race import RaceState, Work
from nas.analysis.verdict import Run
from nas.cli import quiet_optuna
from nas.errors import InputError
from nas.search.race import Race, RaceConfig, open_race
from nas.study.companion import recorded
from nas.study.experimental import experimental_ok
from nas.study.storage import open_existing_study


def means(runs: Sequence[Run], budget: float, seeds: Sequence[int]) -> dict[str, float]:
    """Each architecture's mean PSNR over its runs at ``budget`` with one of ``seeds``."""
    by: dict[str, list[float]] = {}
    for r in runs:
        if r.budget == budget and r.seed in seeds:
            by.setdefault(r.arch, []).append(float(np.mean(list(r.images.values()))))
    return {a: float(np.mean(v)) for a, v in by.items()}


def kendall(x: dict[str, float], y: dict[str, float]) -> str:
    both = sorted(set(x) & set(y))
    if len(both) < 3:
        return f"n = {len(both)}: too few"
    c = rank_correlations([x[a] for a in both], [y[a] for a in both], rng=np.random.default_rng(0))
    return f"{c.kendall_tau:+.2f} {c.interval_text(c.tau_low, c.tau_high)} (n = {len(both)})"


def train_missing(cosine: Race, nested: Race, seeds: Sequence[int], shard: tuple[int, int]) -> None:
    """This shard's missing trainings: whole ladders (a candidate and seed's nested run at the target and its cosine
    run at each budget), every N-th ladder from the I-th, so shards share the heavy nested runs alike."""
    target = cosine.config.budgets[-1]
    ladders = [(s, e.candidate.arch) for s in seeds for e in cosine.entrants]
    for seed, arch in ladders[shard[0] :: shard[1]]:
        for race, budget in [(nested, target), *((cosine, b) for b in cosine.config.budgets)]:
            recorded = {(r.arch, r.budget, r.seed) for r in race.runs()}
            if (arch, budget, seed) not in recorded:
                race.train_one(Work(arch, budget, seed, "nested vs cosine"), RaceState(spent=len(recorded)))


def report(cosine: Race, nested: Race, seeds: Sequence[int]) -> list[str]:
    budgets = cosine.config.budgets
    c_runs, n_runs = cosine.runs(), nested.runs()
    target = budgets[-1]
    names = cosine.names
    lines = [describe(), f"{len(names)} candidates, seeds {list(seeds)}, budgets {list(budgets)} (times the proxy)"]
    lines.append(f"{'budget':>6}  {'WSD vs cosine, Kendall':<36} {'WSD - cosine (dB)':>18}  "
                 f"{'cosine vs its ' + f'{target:g}x':<30} {'WSD vs its ' + f'{target:g}x':<30}")  # fmt: skip
    for b in budgets:
        c, n = means(c_runs, b, seeds), means(n_runs, b, seeds)
        both = sorted(set(c) & set(n))
        diff = float(np.mean([n[a] - c[a] for a in both])) if both else float("nan")
        c_t, n_t = means(c_runs, target, seeds), means(n_runs, target, seeds)
        own = ("-", "-") if b == target else (kendall(c, c_t), kendall(n, n_t))  # a budget against itself: no test
        lines.append(f"{b:>5g}x  {kendall(n, c):<36} {diff:>+18.3f}  {own[0]:<30} {own[1]:<30}")
    for b in budgets:
        c, n = means(c_runs, b, seeds), means(n_runs, b, seeds)
        row = ", ".join(f"{names[a]} {n.get(a, float('nan')):.3f}/{c.get(a, float('nan')):.3f}" for a in names)
        lines.append(f"  {b:g}x WSD/cosine: {row}")
    ladder = [cosine.base.scaled(b).iterations for b in budgets]
    cosine_cost = sum(ladder) / ladder[-1]
    ladders = {(r.arch, r.seed) for r in n_runs if r.seed in seeds and r.budget == target}  # the finished ones
    nested_cost = sum(r.compute for r in n_runs if (r.arch, r.seed) in ladders) / target / max(1, len(ladders))
    lines.append(f"compute per candidate and seed, in {target:g}x trainings: cosine ladder {cosine_cost:.2f}, nested "
                 f"WSD ladder {nested_cost:.2f} (measured from the records' own iterations of the {len(ladders)} "
                 f"finished ladders)")  # fmt: skip
    seconds_c = sum(r.seconds for r in c_runs if r.seed in seeds)
    seconds_n = sum(r.seconds for r in n_runs if r.seed in seeds)
    lines.append(f"training seconds in all: cosine {seconds_c:.0f}, nested {seconds_n:.0f}")
    return lines


def nothing_matches(race: Race) -> str:
    """Why a report would be empty: the runs are keyed by their data, and the storage's were made on other data."""
    held = len(recorded(race.companion))
    return (f"no run of these candidates on this training and validation data; the study's companion holds {held}"
            " recorded run(s) made otherwise: give the --data and --val-data they were trained with")  # fmt: skip


def shard_of(p: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    """``I/N`` with 0 <= I < N, or the parser's error."""
    i, sep, n = text.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and int(i) < int(n)):
        p.error(f"--shard: {text!r} is not I/N with 0 <= I < N")
    return int(i), int(n)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", default="ms3")
    p.add_argument("--storage", required=True)
    p.add_argument("--candidates", default="named")
    p.add_argument("--budgets", default="1,3,10")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--data", action="append", default=[])
    p.add_argument("--val-data", action="append", default=[])
    p.add_argument("--shard", default="0/1", help="I/N: this process's share of the trainings")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    shard = shard_of(p, args.shard)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    budgets = tuple(float(x) for x in args.budgets.split(","))
    seeds = [int(x) for x in args.seeds.split(",")]
    config = RaceConfig(
        args.study, args.storage, tuple(args.candidates.split(",")), budgets=budgets, data=tuple(args.data),
        val_data=tuple(args.val_data), device=args.device,
    )  # fmt: skip
    keep_freed_memory()  # as every nas command
    quiet_optuna()  # as nas.verdict: a failed trial is one line, not Optuna's traceback
    if args.report_only:
        try:
            open_existing_study(args.storage, args.study)  # a report of a missing storage is an error, not a new one
        except InputError as err:
            p.error(str(err))
    with experimental_ok():
        cosine, nested = open_race(config), open_race(replace(config, nested=True))
        if not args.report_only:
            train_missing(cosine, nested, seeds, shard)
        elif not cosine.runs() and not nested.runs():
            p.error(nothing_matches(cosine))
        print("\n".join(report(cosine, nested, seeds)))


if __name__ == "__main__":
    main()
