"""Which short-budget schedule gives the CPU proxy signal: gain over bicubic, seed spread, ranking.

``python -m benchmarks.proxy_schedule [--iters 300] [--seeds 0 1] [--bench DIR]``

Trains standard and MS3 at the CPU proxy size under each schedule and seed, with
common random numbers (a seed fixes the batches for both architectures), and
validates on the bundled validation photos and, if given, a benchmark folder.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from nas.sr.held_out import validation_images
from nas.sr.pictures import training_images
from nas.training.proxy import ValidationSet, fit_proxy, score_proxy
from space import preset
from studies.budget import CPU_PROXY, ProxyBudget

SCHEDULES = {
    "naive: constant 2e-4": replace(CPU_PROXY, schedule="constant", peak_lr=2e-4, warmup=0),
    "cosine 1e-3, warm-up": replace(CPU_PROXY, peak_lr=1e-3),
    "cosine 2e-3, warm-up": replace(CPU_PROXY, peak_lr=2e-3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--bench", default=None, help="extra validation folder (e.g. Set5)")
    parser.add_argument("--archs", nargs="+", default=["standard", "ms3"])
    args = parser.parse_args()
    from benchmarks.machine import describe

    train = training_images(None)
    sets = {"bundled val": ValidationSet.of(validation_images(()), 4)}
    if args.bench:
        sets[args.bench.rstrip("/").split("/")[-1]] = ValidationSet.of(validation_images((args.bench,)), 4)
    print(f"machine: {describe()}")
    print(
        f"x4, width {CPU_PROXY.width}, {CPU_PROXY.blocks} blocks, batch {CPU_PROXY.batch}, LR patch "
        f"{CPU_PROXY.patch}, {args.iters} iterations, seeds {args.seeds}; gain = PSNR - bicubic PSNR (dB)"
    )
    for label, budget in SCHEDULES.items():
        budget = replace(budget, iterations=args.iters, warmup=min(budget.warmup, args.iters // 6))
        run_schedule(label, budget, args.archs, args.seeds, train, sets)


def run_schedule(
    label: str, budget: ProxyBudget, archs: list[str], seeds: list[int], train: list, sets: dict[str, ValidationSet]
) -> None:
    gains: dict[tuple[str, str], list[float]] = {}
    start = time.perf_counter()
    dev = torch.device("cpu")
    for arch in archs:
        for seed in seeds:
            model, log = fit_proxy(preset(arch), budget, train, seed=seed, device="cpu")
            for set_name, val in sets.items():
                result = score_proxy(model, log, val, dev, seed, budget)
                gains.setdefault((arch, set_name), []).append(result.gain)
    print(f"\n{label}  ({time.perf_counter() - start:.0f} s)")
    for (arch, set_name), g in gains.items():
        spread = statistics.stdev(g) if len(g) > 1 else float("nan")
        print(
            f"  {arch:<9} {set_name:<12} gain per seed {[round(x, 3) for x in g]}  mean {statistics.mean(g):+.3f}"
            f"  sd {spread:.3f}"
        )
    for set_name in sets:
        if len(archs) == 2:
            a, b = (gains[(arch, set_name)] for arch in archs)
            diffs = [y - x for x, y in zip(a, b, strict=True)]
            print(f"  paired {archs[1]} - {archs[0]} on {set_name}: {[round(d, 3) for d in diffs]}")


if __name__ == "__main__":
    main()
