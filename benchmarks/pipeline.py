"""The training data pipeline alone, in samples/s per CPU core, and the cores a GPU needs to stay fed.

``python -m benchmarks.pipeline [--seconds 10] [--workers 2] [--step-ms standard=40 ...]``

A sample is one 128x128 HR patch (x4: a 32x32 LR patch), cut from 480x480 PNG sub-images as ``nas.train``
cuts DIV2K.  Three cases, each in one process with one thread (so the rate is per core):

- ``decode``: every patch decodes its sub-image (DIV2K's 32k sub-images never stay cached);
- ``memory``: the sub-images are decoded already (a small set, or the page cache of a big one);
- ``+ CPU bicubic``: the decode case plus the LR made on the CPU (``nas.train`` makes it on the GPU).

Then ``--workers`` processes through the real DataLoader path (``CropSet``), for the total rate.  A GPU
doing a step of batch B in T seconds needs ``B / T / rate`` cores; give measured step times with
``--step-ms NAME=MS`` (``benchmarks.gpu_check`` prints them), else the formula alone is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from benchmarks.gpu_check import texture_images
from nas.sr.patches import CropSet, PatchSampler
from nas.sr.pictures import forget_decoded, training_pictures

SCALE, HR_PATCH, BATCH = 4, 128, 16


def rate(work: Callable[[int], object], seconds: float, batch: int) -> tuple[float, float]:
    """Samples per wall second and per CPU second of ``work(i)`` (one batch per call, one thread) over about
    ``seconds``, after up to a second of warm-up; on a loaded machine the second is what a core of its own would do."""
    start = time.perf_counter()
    while time.perf_counter() - start < min(1.0, seconds):
        work(0)
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        done += 1
        work(done)
    return done * batch / (time.perf_counter() - start), done * batch / (time.process_time() - cpu)


def sub_images(folder: Path, n: int, size: int = 480) -> Path:
    """``n`` PNG sub-images (smoothed noise, compression level 1, as ``nas.train`` caches them)."""
    for name, img in texture_images(n, size):
        Image.fromarray(img).save(folder / f"{name}.png", compress_level=1)
    return folder


def loader_rate(sampler: PatchSampler, workers: int, seconds: float) -> float:
    """Samples/s through the DataLoader with ``workers`` processes (HR crops only, as for a GPU)."""
    total = 10**6
    loader = torch.utils.data.DataLoader(
        CropSet(sampler), batch_size=None, sampler=range(total), num_workers=workers, prefetch_factor=4
    )
    it = iter(loader)
    next(it)  # workers started
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(it)
        done += 1
    return done * sampler.batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="per case")
    parser.add_argument("--files", type=int, default=48, help="sub-images to make")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader processes for the total rate")
    parser.add_argument("--step-ms", action="append", default=[], metavar="NAME=MS", help="a GPU step time (batch 16)")
    args = parser.parse_args(argv)
    from benchmarks.machine import describe

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = sub_images(Path(tmp), args.files)
        hr, _ = training_pictures((folder,), in_memory_bytes=0)  # read on demand, as DIV2K's sub-images are
        sampler = PatchSampler(hr, SCALE, HR_PATCH // SCALE, BATCH, seed=0)

        def decoded(i: int) -> object:
            forget_decoded()
            return sampler.crops(i)

        def with_bicubic(i: int) -> object:
            forget_decoded()
            return sampler.batch_at(i)

        rates = {
            "decode": rate(decoded, args.seconds, BATCH),
            "memory": rate(sampler.crops, args.seconds, BATCH),
            "decode + CPU bicubic": rate(with_bicubic, args.seconds, BATCH),
        }
        total = loader_rate(sampler, args.workers, args.seconds) if args.workers else float("nan")
    print(f"### Data pipeline ({describe()})")
    print(f"128x128 HR patches, x{SCALE}, batch {BATCH}, {args.seconds:g} s per case, one thread per process\n")
    print("| case | samples per wall second | samples per CPU second (a core of its own) |")
    print("|---|---|---|")
    for name, (wall, cpu) in rates.items():
        print(f"| {name} | {wall:.0f} | {cpu:.0f} |")
    print(f"\nDataLoader, {args.workers} worker processes, decoded files cached per worker: {total:.0f} samples/s")
    per_core = rates["decode"][1]
    print(f"\nCores a GPU needs at batch {BATCH}: {BATCH} / step_seconds / {per_core:.0f} (decode case)")
    for item in args.step_ms:
        name, _, ms = item.partition("=")
        print(f"- {name}: step {float(ms):.1f} ms -> {BATCH / (float(ms) / 1000) / per_core:.1f} cores")


if __name__ == "__main__":
    main()
