"""Several seeds of one network trained at once (weights stacked, ``torch.func.vmap``) against one at a time.

Issue 28, item 3, asks whether training several seeds of a network in one process is faster on 2 cores than the
race's way, two workers of one thread each.  For each network, side by side in one run, seed-steps per second of
the CPU proxy's training step (batch 16, LR patches 16, x4, L1, Adam) in three ways:

- one model on every thread (``torch.set_num_threads(os.cpu_count())``), seeds one after another;
- two worker processes of one thread each, one seed each, at the same time (what ``nas.verdict`` runs);
- two seeds stacked into one vmapped model on every thread (the weights of both, one step for both).

    python -m benchmarks.seeds_at_once [--steps 20] [--networks standard,ms3]

The stacked step does exactly what two separate steps do (``tests/benchmarks/test_seeds_at_once.py``), so the
rates compare the same work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state

from backbones import build_model
from benchmarks.machine import describe
from nas.training.loop import prepare_model
from space import PRESETS, preset
from studies.budget import CPU_PROXY, ProxyBudget

WARMUP_STEPS = 3


def proxy_models(name: str, seeds: int, budget: ProxyBudget = CPU_PROXY) -> list[nn.Module]:
    """``seeds`` copies of the named variant at the budget's width and depth, initialised with seeds 0, 1, ...,
    channels-last as the proxy trains them (``nas.training.loop.prepare_model``)."""
    spec = preset(name).resized(budget.width, budget.blocks)
    models = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        models.append(prepare_model(build_model(spec), torch.device("cpu")))
    return models


def batches(seeds: int, budget: ProxyBudget = CPU_PROXY, upscale: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed LR and HR batch per seed (the rate does not depend on the pixels), each LR batch channels-last as the
    proxy makes it."""
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(seeds, budget.batch, 3, budget.patch, budget.patch, generator=g)
    hr = torch.rand(seeds, budget.batch, 3, upscale * budget.patch, upscale * budget.patch, generator=g)
    return torch.stack([x.contiguous(memory_format=torch.channels_last) for x in lr]), hr


def separate_step(model: nn.Module, lr: float = 1e-4) -> Callable[[torch.Tensor, torch.Tensor], None]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = F.l1_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def stacked_step(
    models: Sequence[nn.Module], lr: float = 1e-4
) -> tuple[dict[str, torch.Tensor], Callable[[torch.Tensor, torch.Tensor], None]]:
    """The models' weights stacked along a new first axis, and one step that trains every one of them on its own
    batch (``x[k]``, ``y[k]``): the losses are summed, so each model's gradient is its own loss's; Adam works
    elementwise, so one Adam over the stacks is one Adam per model."""
    params, buffers = stack_module_state(list(models))
    stacked = {k: v.detach().requires_grad_() for k, v in params.items()}
    optimizer = torch.optim.Adam(stacked.values(), lr=lr)
    base = models[0]

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    batched = torch.func.vmap(forward)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = (batched(stacked, buffers, x) - y).abs().mean(dim=(1, 2, 3, 4)).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return stacked, step


def rate(step: Callable[[torch.Tensor, torch.Tensor], None], x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Steps per second after ``WARMUP_STEPS`` unmeasured ones."""
    for _ in range(WARMUP_STEPS):
        step(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    return steps / (time.perf_counter() - start)


def one_at_a_time(name: str, steps: int) -> float:
    (model,) = proxy_models(name, 1)
    x, y = batches(1)
    return rate(separate_step(model), x[0], y[0], steps)


def stacked_pair(name: str, steps: int) -> float:
    x, y = batches(2)
    _, step = stacked_step(proxy_models(name, 2))
    return 2 * rate(step, x, y, steps)


def two_workers(name: str, steps: int) -> float:
    """Two processes of one thread, started together: their seed-steps per second added."""
    command = [sys.executable, "-m", "benchmarks.seeds_at_once", "--worker", name, "--steps", str(steps)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [w.communicate()[0] for w in workers]
    if any(w.returncode for w in workers):
        raise RuntimeError(f"a worker failed: {outputs}")
    return sum(json.loads(o.strip().splitlines()[-1])["rate"] for o in outputs)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="measured steps per way (default 20)")
    p.add_argument("--networks", default="standard,ms3", help="named variants of ms3, comma-separated")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # one worker of two_workers: one network, one thread
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps: 1 or more")
    if args.worker:
        torch.set_num_threads(1)
        print(json.dumps({"rate": one_at_a_time(args.worker, args.steps)}))
        return
    names = args.networks.split(",")
    if unknown := [n for n in names if n not in PRESETS]:
        p.error(f"--networks: no preset named {', '.join(unknown)} (presets: {', '.join(PRESETS)})")
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    b = CPU_PROXY
    print(f"machine: {describe()}; CPU proxy step (batch {b.batch}, LR patch {b.patch}, width {b.width}, "
          f"{b.blocks} blocks), {args.steps} steps a way; seed-steps per second:")  # fmt: skip
    for name in names:
        alone = one_at_a_time(name, args.steps)
        pair = two_workers(name, args.steps)
        stacked = stacked_pair(name, args.steps)
        print(f"{name}: one at a time on {threads} threads {alone:.2f}; two workers of one thread {pair:.2f}; "
              f"two stacked on {threads} threads {stacked:.2f} (stacked / two workers {stacked / pair:.2f}, "
              f"stacked / one at a time {stacked / alone:.2f})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
