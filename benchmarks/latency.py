"""CPU latency of SRResNet, standard vs every preset, side by side in one run.

``python -m benchmarks.latency [--lr-size 128] [--rounds 7] [--presets standard ms3 ...]``

Every model runs channels-last in inference mode; rounds interleave the models
so drift on the machine hits all of them alike.  The NCHW standard network is
shown for reference only: the ratios use the channels-last standard.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from backbones import build_model
from space import PRESETS, analytic_cost, preset


def timed(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return time.perf_counter() - start


def prepare(name: str, channels_last: bool = True) -> nn.Module:
    model = build_model(preset(name)).eval()
    return model.to(memory_format=torch.channels_last) if channels_last else model  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    args = parser.parse_args()
    from benchmarks.machine import describe

    torch.manual_seed(0)
    names = ["standard", *[n for n in args.presets if n != "standard"]]
    models = {n: prepare(n) for n in names}
    models["standard (NCHW)"] = prepare("standard", channels_last=False)
    x_cl = torch.rand(1, 3, args.lr_size, args.lr_size).contiguous(memory_format=torch.channels_last)
    x = x_cl.contiguous()
    times: dict[str, list[float]] = {n: [] for n in models}
    with torch.inference_mode():
        for model in models.values():  # warm-up: allocator and oneDNN primitive caches
            model(x_cl)
        for _ in range(args.rounds):
            for n, model in models.items():
                times[n].append(timed(model, x if n.endswith("(NCHW)") else x_cl))

    print(f"machine: {describe()}")
    print(f"SRResNet x4, LR {args.lr_size}x{args.lr_size}, batch 1, median of {args.rounds} interleaved rounds")
    base_ms = statistics.median(times["standard"]) * 1e3
    base_macs = analytic_cost(preset("standard"), args.lr_size).macs
    print(f"{'variant':<16}{'ms':>9}{'G MACs':>9}{'MAC ratio':>11}{'speed-up':>10}")
    for n in times:
        ms = statistics.median(times[n]) * 1e3
        macs = analytic_cost(preset(n.split()[0]), args.lr_size).macs
        print(f"{n:<16}{ms:>9.1f}{macs / 1e9:>9.2f}{base_macs / macs:>10.2f}x{base_ms / ms:>9.2f}x")


if __name__ == "__main__":
    main()
