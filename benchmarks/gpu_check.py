"""One prepared GPU check (under 5 minutes of device time) that prints the block for BENCHMARKS.md.

``python -m benchmarks.gpu_check`` measures, on one CUDA device, bf16 autocast and channels-last:

1. train step time and samples/s, standard vs MS3, paper-size SRResNet and CARN (x4, 128x128 HR
   patches, batch 16), their ratio against the MAC ratio, and peak memory;
2. the CPU cores that feed each at that rate (the pipeline's per-core rate, measured here);
3. one GPU proxy trial of the ms3 study (``GPU_PROXY``, wall time, goal <= 60 s);
4. a 1-GPU ``torchrun`` run of ``nas.train`` (the DDP path, NCCL);
5. inference latency, batch 1, 128x128 LR, fp32 and bf16.

``--compile`` adds the proxy trial through ``torch.compile`` (its compile time counts).  ``--smoke`` runs
every part at toy sizes (on the CPU: ``--smoke --device cpu``) so the script is known to work before a GPU
is lent.  Data are smoothed-noise images made here (the GPU image may lack scikit-image): enough for speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from backbones import build_model
from nas.allocator import keep_freed_memory
from nas.sr.patches import PatchSampler
from nas.sr.pictures import forget_decoded, training_pictures
from nas.training.loop import Schedule, StepLog, make_optimizer, prepare_model, resolve_device, train_steps
from nas.training.proxy import ValidationSet, train_proxy
from space import analytic_cost, preset
from space.arch import ArchSpec
from studies import STUDIES
from studies.budget import ProxyBudget

ROOT = Path(__file__).resolve().parents[1]
BACKBONES = ("srresnet", "carn")
VARIANTS = ("standard", "ms3")


@dataclass(frozen=True)
class Sizes:
    """What the check runs at: the paper's sizes, or toy ones for ``--smoke``."""

    iters: int = 200  # timed train steps per network
    warmup: int = 20
    batch: int = 16
    hr_patch: int = 128
    width: int | None = None  # None: the paper's networks
    blocks: int | None = None
    lr_size: int = 128  # inference input side
    latency_runs: int = 50
    torchrun_iters: int = 300
    proxy: ProxyBudget | None = None  # None: the ms3 study's GPU proxy
    image_size: int = 480
    pipeline_seconds: float = 3.0


PAPER = Sizes()
SMOKE = Sizes(
    iters=3,
    warmup=1,
    batch=2,
    hr_patch=16,
    width=8,
    blocks=1,
    lr_size=16,
    latency_runs=2,
    torchrun_iters=4,
    proxy=ProxyBudget(iterations=4, batch=2, patch=8, peak_lr=1e-3, warmup=1, width=8, blocks=1),
    image_size=64,
    pipeline_seconds=0.2,
)


def texture_images(n: int = 8, size: int = 480, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Smoothed noise images: cheap stand-ins for photos when only speed is measured."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        coarse = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.float64)
        img = np.kron(coarse, np.ones((8, 8, 1))) * 0.7 + rng.integers(0, 256, (size, size, 3)) * 0.3
        out.append((f"texture{i}", img.clip(0, 255).astype(np.uint8)))
    return out


def network(name: str, backbone: str, sizes: Sizes) -> ArchSpec:
    return preset(name, backbone, blocks=sizes.blocks, width=sizes.width)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_training(spec: ArchSpec, sizes: Sizes, device: torch.device) -> dict[str, float]:
    """Step time, samples/s and peak memory of the training loop at the check's batch."""
    torch.manual_seed(0)
    model = prepare_model(build_model(spec), device)
    optimizer, scheduler = make_optimizer(model, Schedule("constant", 2e-4, total=sizes.iters))
    images = texture_images(8, sizes.image_size)
    sampler = PatchSampler.from_images(images, spec.upscale, sizes.hr_patch // spec.upscale, sizes.batch, seed=0)
    train_steps(model, optimizer, scheduler, sampler, 0, sizes.warmup, device, StepLog())  # cudnn autotune, allocator
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    log = StepLog()
    train_steps(model, optimizer, scheduler, sampler, sizes.warmup, sizes.warmup + sizes.iters, device, log)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {
        "step_ms": 1000 * log.seconds / sizes.iters,
        "samples_per_s": log.samples / log.seconds,
        "peak_gib": peak,
        "gmacs": analytic_cost(spec).macs / 1e9,
    }


def pipeline_per_core(sizes: Sizes) -> float:
    """Samples per CPU second one core cuts, each patch decoding its PNG sub-image (``benchmarks.pipeline``)."""
    from benchmarks.pipeline import rate, sub_images  # it imports this module's texture_images

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = sub_images(Path(tmp), 16, sizes.image_size)
            hr, _ = training_pictures((folder,), in_memory_bytes=0)  # read on demand, as DIV2K's sub-images are
            sampler = PatchSampler(hr, 4, sizes.hr_patch // 4, sizes.batch, seed=0)

            def decoded(i: int) -> object:
                forget_decoded()
                return sampler.crops(i)

            return rate(decoded, sizes.pipeline_seconds, sizes.batch)[1]
    finally:
        torch.set_num_threads(threads)


def proxy_trial(sizes: Sizes, device: torch.device, compile_model: bool = False) -> dict[str, float]:
    """One proxy trial of the ms3 study's ms3 variant, end to end (training and validations)."""
    budget = sizes.proxy or STUDIES["ms3"].proxy_for("cuda")
    spec = network("ms3", "srresnet", sizes)
    train = texture_images(8, sizes.image_size)
    val = ValidationSet.of(texture_images(2, sizes.image_size // 2, seed=5), spec.upscale)
    val.bicubic  # noqa: B018  (computed once by a search worker before its trials)
    sync(device)
    start = time.perf_counter()
    result = train_proxy(spec, budget, train, val, 0, device.type, compile_model=compile_model)
    sync(device)
    return {"wall_s": time.perf_counter() - start, "train_s": result.train_seconds, "iterations": budget.iterations}


def torchrun_train(sizes: Sizes, device: torch.device) -> dict[str, float]:
    """``torchrun --nproc_per_node 1 -m nas.train`` on MS3 SRResNet: wall time and what final.json records."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for sub, count, size in (("train", 8, sizes.image_size), ("val", 2, sizes.image_size // 2)):
            (folder / sub).mkdir()
            for name, img in texture_images(count, size, seed=len(sub)):
                Image.fromarray(img).save(folder / sub / f"{name}.png", compress_level=1)
        (folder / "arch.json").write_text(network("ms3", "srresnet", sizes).to_json())
        n = str(sizes.torchrun_iters)
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "1",
            "-m",
            "nas.train",
        ]
        cmd += ["--arch", str(folder / "arch.json"), "--data", str(folder / "train"), "--val-data", str(folder / "val")]
        cmd += ["--out", str(folder / "out"), "--iters", n, "--val-every", n, "--ckpt-every", n, "--no-subimages"]
        cmd += ["--batch", str(sizes.batch), "--hr-patch", str(sizes.hr_patch), "--device", device.type]
        cmd += ["--workers", str(min(4, os.cpu_count() or 1))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"torchrun nas.train failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        final = json.loads((folder / "out" / "final.json").read_text())
    return {
        "wall_s": wall,
        "world_size": final["world_size"],
        "samples_per_s": final["history"][-1]["samples_per_second"],
        "psnr": final["history"][-1]["psnr"],
    }


def latency_ms(spec: ArchSpec, sizes: Sizes, device: torch.device, bf16: bool) -> float:
    """Median inference time, batch 1, ``lr_size`` square input, channels-last."""
    model = build_model(spec).eval().to(device=device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.rand(1, 3, sizes.lr_size, sizes.lr_size, device=device).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for k in range(sizes.latency_runs + 5):
            sync(device)
            start = time.perf_counter()
            model(x)
            sync(device)
            if k >= 5:  # warm-up runs
                times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def timed(what: str, work: Callable[[], dict[str, float]], spent: dict[str, float]) -> dict[str, float]:
    start = time.perf_counter()
    print(f"gpu_check: {what} ...", file=sys.stderr, flush=True)
    out = work()
    spent[what] = time.perf_counter() - start
    return out


def training_table(train: dict[tuple[str, str], dict[str, float]], per_core: float) -> list[str]:
    """One row per backbone and variant: MACs, step time, throughput, memory, and the CPU cores its data needs."""
    lines = [
        "| backbone | variant | G MACs | step (ms) | samples/s | peak memory (GiB) | cores to feed it |",
        "|---|---|---|---|---|---|---|",
    ]
    for (b, v), r in train.items():
        cores = r["samples_per_s"] / per_core
        lines.append(
            f"| {b} | {v} | {r['gmacs']:.2f} | {r['step_ms']:.1f} | {r['samples_per_s']:.0f} | {r['peak_gib']:.2f} |"
            f" {cores:.1f} |"
        )
    return lines


def report(device: torch.device, sizes: Sizes, compile_model: bool) -> str:
    """Run every part and return the markdown block."""
    spent: dict[str, float] = {}

    def training(backbone: str, variant: str) -> Callable[[], dict[str, float]]:
        return lambda: measure_training(network(variant, backbone, sizes), sizes, device)

    train = {(b, v): timed(f"train {b} {v}", training(b, v), spent) for b in BACKBONES for v in VARIANTS}
    per_core = timed("pipeline", lambda: {"rate": pipeline_per_core(sizes)}, spent)["rate"]
    proxy = timed("proxy trial", lambda: proxy_trial(sizes, device), spent)
    compiled = (
        timed("proxy trial, compiled", lambda: proxy_trial(sizes, device, True), spent) if compile_model else None
    )
    run = timed("torchrun nas.train", lambda: torchrun_train(sizes, device), spent)
    latency = {
        (v, bf16): latency_ms(network(v, "srresnet", sizes), sizes, device, bf16)
        for v in VARIANTS
        for bf16 in (False, True)
    }
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    size = "paper-size" if sizes.width is None else f"toy (width {sizes.width}, {sizes.blocks} block) --smoke"
    lines = [
        f"### GPU check: {name}, torch {torch.__version__}, bf16 autocast, channels-last",
        f"{size} networks, x4, batch {sizes.batch}, {sizes.hr_patch}x{sizes.hr_patch} HR patches, {sizes.iters} timed"
        f" steps after {sizes.warmup} warm-up; {sum(spent.values()):.0f} s in all",
        "",
        *training_table(train, per_core),
        "",
    ]
    for b in BACKBONES:
        speed = train[(b, "ms3")]["samples_per_s"] / train[(b, "standard")]["samples_per_s"]
        macs = train[(b, "standard")]["gmacs"] / train[(b, "ms3")]["gmacs"]
        lines.append(f"- {b}: MS3 / standard training speed {speed:.2f}x (MAC ratio {macs:.2f}x; goal >= 2x)")
    lines.append(f"- data pipeline: {per_core:.0f} samples/s per CPU core (decoding each patch's PNG sub-image)")
    lines.append(
        f"- GPU proxy trial (ms3 study, ms3, {proxy['iterations']:.0f} iterations): {proxy['wall_s']:.1f} s wall,"
        f" {proxy['train_s']:.1f} s training (goal <= 60 s)"
    )
    if compiled is not None:
        lines.append(
            f"- the same trial through torch.compile: {compiled['wall_s']:.1f} s wall, {compiled['train_s']:.1f} s"
            " training (compile time included)"
        )
    lines.append(
        f"- torchrun --nproc_per_node 1 nas.train, {sizes.torchrun_iters} iterations: {run['wall_s']:.1f} s wall"
        f" (start-up included), world_size {run['world_size']:.0f}, {run['samples_per_s']:.0f} samples/s"
    )
    std32, ms32 = latency[("standard", False)], latency[("ms3", False)]
    std16, ms16 = latency[("standard", True)], latency[("ms3", True)]
    lines.append(
        f"- inference, SRResNet, batch 1, {sizes.lr_size}x{sizes.lr_size} LR: standard {std32:.2f} ms fp32 /"
        f" {std16:.2f} ms bf16, MS3 {ms32:.2f} / {ms16:.2f} ms: {std32 / ms32:.2f}x / {std16 / ms16:.2f}x"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --smoke)")
    parser.add_argument("--iters", type=int, default=None, help=f"timed train steps per network ({PAPER.iters})")
    parser.add_argument("--compile", action="store_true", help="also a proxy trial through torch.compile")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: checks the script, measures nothing")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as every nas command does
    device = resolve_device(args.device)
    sizes = SMOKE if args.smoke else PAPER
    if args.iters is not None:
        sizes = replace(sizes, iters=args.iters)
    torch.backends.cudnn.benchmark = True
    print(report(device, sizes, args.compile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
