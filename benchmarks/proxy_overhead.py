"""The proxy trainer's samples/s against a bare PyTorch loop on the same model, batch and device.

``python -m benchmarks.proxy_overhead [--iters 40] [--rounds 3]``

The bare loop trains on one pre-made batch (no data pipeline, no bookkeeping);
the trainer makes every batch (crops, flips, MATLAB-style bicubic LR) and logs.
Rounds alternate the two so drift on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from backbones import build_model
from benchmarks.gpu_check import texture_images
from nas.allocator import keep_freed_memory
from nas.sr.patches import PatchSampler
from nas.training.loop import StepLog, make_optimizer, prepare_model, resolve_device, train_steps
from nas.training.proxy import schedule_of
from space import ArchSpec, preset
from studies.budget import CPU_PROXY, GPU_PROXY, ProxyBudget


def fresh_model(spec: ArchSpec, device: torch.device) -> nn.Module:
    """The same initial weights for both loops."""
    torch.manual_seed(0)
    return prepare_model(build_model(spec), device)


def bare_loop(spec: ArchSpec, sampler: PatchSampler, iters: int, device: torch.device) -> float:
    """samples/s of the plainest loop: one batch reused, forward, L1, backward, Adam step."""
    model = fresh_model(spec, device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    lr_img, hr = sampler.batch_at(0, device)
    lr_img = lr_img.contiguous(memory_format=torch.channels_last)
    cuda = device.type == "cuda"
    model.train()
    start = time.perf_counter()
    for _ in range(iters):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
            out = model(lr_img)
        loss = F.l1_loss(out.float(), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if cuda:
        torch.cuda.synchronize()
    return iters * hr.shape[0] / (time.perf_counter() - start)


def trainer_loop(spec: ArchSpec, budget: ProxyBudget, sampler: PatchSampler, iters: int, device: torch.device) -> float:
    """samples/s of the proxy trainer's loop, data pipeline and logging included."""
    model = fresh_model(spec, device)
    optimizer, scheduler = make_optimizer(model, schedule_of(budget))
    log = StepLog()
    train_steps(model, optimizer, scheduler, sampler, 0, iters, device, log)
    return log.samples / log.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--preset", default="ms3")
    args = parser.parse_args()
    from benchmarks.machine import describe

    keep_freed_memory()  # as every nas command does

    device = resolve_device(args.device)
    budget = GPU_PROXY if device.type == "cuda" else CPU_PROXY
    spec = preset(args.preset)
    sampler = PatchSampler.from_images(texture_images(), spec.upscale, budget.patch, budget.batch, seed=0)
    bare, ours = [], []
    for _ in range(args.rounds):
        small = spec.resized(budget.width, budget.blocks)
        bare.append(bare_loop(small, sampler, args.iters, device))
        ours.append(trainer_loop(small, budget, sampler, args.iters, device))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"machine: {describe()}, device {device}")
    print(
        f"{args.preset} at the {'GPU' if device.type == 'cuda' else 'CPU'} proxy size (width {budget.width}, "
        f"{budget.blocks} blocks), batch {budget.batch}, LR patch {budget.patch}, {args.iters} iterations, "
        f"median of {args.rounds} alternating rounds"
    )
    print(f"  bare PyTorch loop: {b:8.1f} samples/s")
    print(f"  proxy trainer:     {o:8.1f} samples/s")
    print(f"  overhead:          {100 * (b - o) / b:8.1f} %  (target <= 5 %)")


if __name__ == "__main__":
    main()
