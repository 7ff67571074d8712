"""One short GPU run: paper-size SRResNet, standard vs MS3, bf16, samples/s and peak memory.

``python -m benchmarks.gpu_check [--iters 300] [--device cuda]`` prints a markdown
block for BENCHMARKS.md.  Data are random-texture images made here (the GPU image
may lack scikit-image), which is enough for speed and memory.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from backbones import build_model
from nas.sr.data import PatchSampler
from nas.training.loop import Schedule, StepLog, make_optimizer, prepare_model, resolve_device, train_steps
from space import analytic_cost, preset


def texture_images(n: int = 8, size: int = 480, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Smoothed noise images: cheap stand-ins for photos when only speed is measured."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        coarse = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.float64)
        img = np.kron(coarse, np.ones((8, 8, 1))) * 0.7 + rng.integers(0, 256, (size, size, 3)) * 0.3
        out.append((f"texture{i}", img.clip(0, 255).astype(np.uint8)))
    return out


def measure(name: str, iters: int, batch: int, device: torch.device, warmup: int = 20) -> dict[str, float]:
    spec = preset(name)
    torch.manual_seed(0)
    model = prepare_model(build_model(spec), device)
    optimizer, scheduler = make_optimizer(model, Schedule("constant", 2e-4, total=iters))
    sampler = PatchSampler.from_images(texture_images(), spec.upscale, 32, batch, seed=0)
    warm = StepLog()
    train_steps(model, optimizer, scheduler, sampler, 0, warmup, device, warm)  # cudnn autotune, allocator
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    log = StepLog()
    train_steps(model, optimizer, scheduler, sampler, warmup, warmup + iters, device, log)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {
        "samples_per_s": log.samples / log.seconds,
        "peak_gib": peak,
        "gmacs": analytic_cost(spec).macs / 1e9,
        "final_loss": log.values()[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    start = time.perf_counter()
    rows = {n: measure(n, args.iters, args.batch, device) for n in ("standard", "ms3")}
    print(f"### GPU check: {name}, torch {torch.__version__}, bf16 autocast, channels-last")
    print(
        f"SRResNet x4 (16 blocks, 64 filters), batch {args.batch}, 128x128 HR patches, "
        f"{args.iters} timed iterations after 20 warm-up ({time.perf_counter() - start:.0f} s in all)\n"
    )
    print("| variant | G MACs (128x128 LR) | samples/s | peak memory (GiB) | last loss |")
    print("|---|---|---|---|---|")
    for n, r in rows.items():
        print(f"| {n} | {r['gmacs']:.2f} | {r['samples_per_s']:.1f} | {r['peak_gib']:.2f} | {r['final_loss']:.4f} |")
    ratio = rows["ms3"]["samples_per_s"] / rows["standard"]["samples_per_s"]
    mac_ratio = rows["standard"]["gmacs"] / rows["ms3"]["gmacs"]
    print(f"\nMS3 / standard training speed: {ratio:.2f}x (MAC ratio {mac_ratio:.2f}x)")


if __name__ == "__main__":
    main()
