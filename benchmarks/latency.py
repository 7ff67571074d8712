"""CPU latency of SRResNet, standard vs the presets, per runtime, quiet and under load, in one run.

``python -m benchmarks.latency [--lr-size 128] [--rounds 9] [--presets standard ms3 ...]
[--runtimes eager,onnxruntime] [--loads 0,2]``

Runtimes: ``eager`` (PyTorch, channels-last, inference mode: what the search's latency objective
times) and ``onnxruntime`` (the ONNX file ``nas.export`` writes).  Each load level runs
``N`` other CPU jobs beside the measurement (each a single-threaded conv training loop, like
the proxy's fidelity shards) so the loaded figure is reproducible; rounds interleave the
models so drift on the machine hits all of them alike.  Ratios are against ``standard`` in
the same runtime and load; the runtimes are measured one after the other.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from backbones import build_model
from nas.training.latency import RUNTIMES, Forward, Runtime, forward_of, time_ms
from space import PRESETS, analytic_cost, preset

LOAD_SETTLE_SECONDS = 2.0


def busy_job() -> None:
    """One single-threaded CPU job: a small conv net trained forever (killed by the parent)."""
    torch.set_num_threads(1)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(64, 64, 3, padding=1)
    )
    x = torch.rand(16, 64, 24, 24)
    while True:
        net(x).square().mean().backward()


@contextmanager
def background_load(jobs: int) -> Iterator[None]:
    """``jobs`` busy processes running while the block runs."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=busy_job, daemon=True) for _ in range(jobs)]
    for worker in workers:
        worker.start()
    if workers:
        time.sleep(LOAD_SETTLE_SECONDS)
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()


def measure(forwards: dict[str, Forward], rounds: int) -> dict[str, float]:
    """Median milliseconds per forward, rounds interleaving the models, after one warm-up each."""
    for forward in forwards.values():
        forward()
    times: dict[str, list[float]] = {name: [] for name in forwards}
    for _ in range(rounds):
        for name, forward in forwards.items():
            times[name].append(time_ms(forward))
    return {name: statistics.median(values) for name, values in times.items()}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help=f"comma-separated, of {', '.join(RUNTIMES)}")
    parser.add_argument("--loads", default="0,2", help="comma-separated numbers of busy jobs beside the measurement")
    args = parser.parse_args()
    unknown = set(args.runtimes.split(",")) - set(RUNTIMES)
    if unknown:
        parser.error(f"--runtimes: unknown {', '.join(sorted(unknown))} (choose from {', '.join(RUNTIMES)})")
    return args


def main() -> None:
    args = parse_args()
    from benchmarks.machine import describe

    names = ["standard", *[n for n in args.presets if n != "standard"]]
    runtimes: list[Runtime] = args.runtimes.split(",")
    x = torch.rand(1, 3, args.lr_size, args.lr_size)
    macs = {n: analytic_cost(preset(n), args.lr_size).macs for n in names}
    print(f"machine: {describe()}")
    print(f"SRResNet x4, LR {args.lr_size}x{args.lr_size}, batch 1, median of {args.rounds} interleaved rounds")
    with tempfile.TemporaryDirectory() as tmp:
        forwards: dict[str, Forward] = {}
        for runtime in runtimes:
            for n in names:
                torch.manual_seed(0)
                folder = Path(tmp) / f"{runtime}-{n}"
                folder.mkdir()
                forwards[f"{runtime}/{n}"] = forward_of(build_model(preset(n)), x, runtime, folder)
        for load in (int(v) for v in args.loads.split(",")):
            ms: dict[str, float] = {}
            with background_load(load):
                for runtime in runtimes:  # one runtime at a time: torch's and ORT's thread pools do not meet
                    ms |= measure({k: f for k, f in forwards.items() if k.startswith(f"{runtime}/")}, args.rounds)
            print(f"\n{load} busy job(s) beside it")
            print(f"| variant | G MACs | MAC ratio | {' | '.join(f'{r} ms | {r} speed-up' for r in runtimes)} |")
            print(f"|---|---|---|{'---|---|' * len(runtimes)}")
            for n in names:
                cells = [f"{ms[f'{r}/{n}']:.1f} | {ms[f'{r}/standard'] / ms[f'{r}/{n}']:.2f}x" for r in runtimes]
                print(f"| {n} | {macs[n] / 1e9:.2f} | {macs['standard'] / macs[n]:.2f}x | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
