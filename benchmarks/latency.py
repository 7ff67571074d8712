"""CPU latency of SRResNet, standard vs the presets, per runtime, quiet and under load, in one run.

``python -m benchmarks.latency [--lr-size 128] [--rounds 9] [--presets standard ms3 ...]
[--runtimes eager,onnxruntime] [--loads 0,2] [--stages]``

Runtimes: ``eager`` (PyTorch, channels-last, inference mode: what the search's latency objective
times) and ``onnxruntime`` (the ONNX file ``nas.export`` writes).  Each load level runs
``N`` other CPU jobs beside the measurement (each a single-threaded conv training loop, like
the proxy's fidelity shards) so the loaded figure is reproducible; rounds interleave the
models so drift on the machine hits all of them alike.  Ratios are against ``standard`` in
the same runtime and load; the runtimes are measured one after the other.

``--stages`` says where the eager time goes instead: each stage of the backbone (conv_first, the
blocks, the upsampler convs, conv_hr, conv_last, and "other": pixel shuffles, activations and the
bicubic skip) timed by module hooks in the same forward, with the stage's own MAC ratio beside its
speed-up, so a gap between the whole network's speed-up and its MAC ratio is located.
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
from torch import nn

from backbones import build_model
from nas.allocator import keep_freed_memory
from nas.measure.latency import RUNTIMES, Forward, Runtime, forward_of, time_ms
from space import PRESETS, analytic_cost, preset
from space.arch import ArchSpec
from space.cost import unit_cost

OTHER = "other"  # what no stage module holds: pixel shuffles, activations, the bicubic skip

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


def stage_of(site: str) -> str:
    """The stage a conv site belongs to: every block's convs are one stage, ``body``."""
    return site.split(".")[0] if site.startswith("body.") else site


def stage_modules(net: nn.Module) -> dict[str, nn.Module]:
    """The backbone's called children by stage name (a ModuleList by its elements: ``up.0``, ``up.1``)."""
    stages: dict[str, nn.Module] = {}
    for name, child in net.named_children():
        if isinstance(child, nn.ModuleList):
            stages |= {f"{name}.{i}": m for i, m in enumerate(child)}
        else:
            stages[name] = child
    return stages


def stage_macs(spec: ArchSpec, lr_size: int) -> dict[str, float]:
    """Conv MACs per stage at an LR side of ``lr_size`` (the analytic count, as the search's objective)."""
    macs: dict[str, float] = {}
    for site, unit in spec.site_units:
        side = lr_size * site.factor
        macs[stage_of(site.name)] = macs.get(stage_of(site.name), 0.0) + unit_cost(unit, site, side, side).macs
    return macs


def stage_ms(model: nn.Module, x: torch.Tensor, rounds: int) -> dict[str, float]:
    """Median milliseconds per stage of the eager channels-last forward (hooks time each stage module)."""
    net = getattr(model, "net", model).eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = x.contiguous(memory_format=torch.channels_last)
    started: dict[str, float] = {}
    spent: dict[str, float] = {}
    handles = []
    for name, module in stage_modules(net).items():
        handles.append(
            module.register_forward_pre_hook(lambda _m, _a, n=name: started.__setitem__(n, time.perf_counter()))
        )
        handles.append(
            module.register_forward_hook(
                lambda _m, _a, _o, n=name: spent.__setitem__(n, spent.get(n, 0.0) + time.perf_counter() - started[n])
            )
        )
    samples: dict[str, list[float]] = {}
    try:
        with torch.inference_mode():
            net(x)  # warm-up
            for _ in range(rounds):
                spent.clear()
                start = time.perf_counter()
                net(x)
                total = time.perf_counter() - start
                for name, seconds in {**spent, OTHER: total - sum(spent.values())}.items():
                    samples.setdefault(name, []).append(seconds * 1e3)
    finally:
        for handle in handles:
            handle.remove()
    return {name: statistics.median(values) for name, values in samples.items()}


def stage_table(names: list[str], lr_size: int, rounds: int) -> list[str]:
    """Per-stage eager time of each network against standard, with each stage's MAC ratio."""
    x = torch.rand(1, 3, lr_size, lr_size)
    ms, macs = {}, {}
    for name in names:
        torch.manual_seed(0)
        spec = preset(name)
        ms[name] = stage_ms(build_model(spec), x, rounds)
        macs[name] = stage_macs(spec, lr_size)
    lines = []
    base = ms["standard"]
    for name in (n for n in names if n != "standard"):
        total, base_total = sum(ms[name].values()), sum(base.values())
        lines += [
            f"\n{name} against standard, eager, stage by stage (median of {rounds})",
            "| stage | MAC ratio | standard ms | " + name + " ms | speed-up | share of " + name + " |",
            "|---|---|---|---|---|---|",
        ]
        for stage in base:
            mac_ratio = f"{macs['standard'][stage] / macs[name][stage]:.2f}x" if stage in macs[name] else "-"
            lines.append(
                f"| {stage} | {mac_ratio} | {base[stage]:.1f} | {ms[name][stage]:.1f} | "
                f"{base[stage] / ms[name][stage]:.2f}x | {ms[name][stage] / total:.0%} |"
            )
        whole = sum(macs["standard"].values()) / sum(macs[name].values())
        lines.append(f"| whole | {whole:.2f}x | {base_total:.1f} | {total:.1f} | {base_total / total:.2f}x | 100% |")
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help=f"comma-separated, of {', '.join(RUNTIMES)}")
    parser.add_argument("--loads", default="0,2", help="comma-separated numbers of busy jobs beside the measurement")
    parser.add_argument("--stages", action="store_true", help="eager time per backbone stage, quiet, instead")
    args = parser.parse_args()
    unknown = set(args.runtimes.split(",")) - set(RUNTIMES)
    if unknown:
        parser.error(f"--runtimes: unknown {', '.join(sorted(unknown))} (choose from {', '.join(RUNTIMES)})")
    return args


def main() -> None:
    args = parse_args()
    keep_freed_memory()  # as every nas command does
    from benchmarks.machine import describe

    names = ["standard", *[n for n in args.presets if n != "standard"]]
    runtimes: list[Runtime] = args.runtimes.split(",")
    x = torch.rand(1, 3, args.lr_size, args.lr_size)
    macs = {n: analytic_cost(preset(n), args.lr_size).macs for n in names}
    print(f"machine: {describe()}")
    if args.stages:
        print(f"SRResNet x4, LR {args.lr_size}x{args.lr_size}, batch 1, eager, channels-last, no load")
        print("\n".join(stage_table(names, args.lr_size, args.rounds)))
        return
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
