"""Budgets that nest: one warmup-stable-decay run gives the proxy's result at every budget of a ladder.

Under a WSD schedule (``studies.budget.WSD_DECAY``) the learning rate holds its peak until the last fifth of a
run, so every budget of a ladder (1x, 3x, 10x) shares one stable phase: the run trains that phase once, and at
each shorter budget's decay start copies the model and optimiser and runs that budget's short decay on the copy.
Batches are a pure function of (seed, iteration), so each branch is exactly the run a WSD proxy of that budget
alone would make (on the CPU, to the bit); the ladder 1x, 3x, 10x costs 8 + 0.2 + 0.6 + 2 = 10.8 proxies instead
of 14.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from backbones import build_model
from nas.sr.patches import PatchSampler
from nas.sr.pictures import NamedImage, Picture
from nas.stops import interruptible
from nas.training.loop import StepLog, make_optimizer, prepare_model, resolve_device, set_seed, train_steps
from nas.training.proxy import ProxyResult, ValidationSet, schedule_of, score_proxy
from space.arch import ArchSpec
from studies.budget import ProxyBudget


def check_ladder(budgets: Sequence[ProxyBudget]) -> list[ProxyBudget]:
    """The budgets in ascending order; ValueError unless they are one WSD recipe at different lengths."""
    ladder = sorted(budgets, key=lambda b: b.iterations)
    if not ladder:
        raise ValueError("nested budgets: none given")
    longest = ladder[-1]
    for b in ladder:
        if b.schedule != "wsd" or replace(b, iterations=longest.iterations) != longest:
            raise ValueError(f"nested budgets must be one WSD recipe at several lengths, got {b} beside {longest}")
    if len({b.iterations for b in ladder}) != len(ladder):
        raise ValueError("nested budgets: two of the same length")
    return ladder


@dataclass(frozen=True)
class Branch:
    """One budget of the ladder: the trained model, its log (stable phase included) and the iterations it added."""

    budget: ProxyBudget
    model: nn.Module
    log: StepLog
    own_iterations: int  # what this budget cost beyond the shared stable phase (the longest: its whole run)
    own_seconds: float


def fit_nested(
    spec: ArchSpec,
    budgets: Sequence[ProxyBudget],
    train: Sequence[NamedImage] | Sequence[Picture],
    seed: int,
    device: str | None,
    at_branch: Callable[[Branch], None],
    skip: Callable[[ProxyBudget], bool] = lambda _: False,
) -> None:
    """Train the ladder; ``at_branch`` gets each budget's model once trained (shortest first); ``skip(budget)``
    true leaves out a shorter budget's decay (already recorded)."""
    ladder = check_ladder(budgets)
    longest, dev = ladder[-1], resolve_device(device)
    set_seed(seed)
    model = prepare_model(build_model(spec.resized(longest.width, longest.blocks)), dev)
    optimizer, scheduler = make_optimizer(model, schedule_of(longest))
    sampler = PatchSampler.from_images(train, spec.upscale, longest.patch, longest.batch, seed)
    log, start = StepLog(), 0
    for b in ladder[:-1]:
        train_steps(model, optimizer, scheduler, sampler, start, b.decay_start, dev, log)
        start = b.decay_start
        if not skip(b):
            at_branch(decay_branch(model, optimizer, sampler, b, dev, log))
    train_steps(model, optimizer, scheduler, sampler, start, longest.iterations, dev, log)
    at_branch(Branch(longest, model, log, longest.iterations, log.seconds))


def decay_branch(
    model: nn.Module, optimizer: torch.optim.Optimizer, sampler: PatchSampler, budget: ProxyBudget,
    dev: torch.device, stable: StepLog,
) -> Branch:  # fmt: skip
    """``budget``'s decay on a copy of the model and optimiser at its decay start; the stable run is untouched."""
    twin = copy.deepcopy(model)
    schedule = schedule_of(budget)
    twin_optimizer, _ = make_optimizer(twin, schedule)  # Adam as every run's; its own schedule is replaced below
    twin_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # loading alone shares the moments' tensors
    scheduler = torch.optim.lr_scheduler.LambdaLR(twin_optimizer, schedule.factor, last_epoch=budget.decay_start - 1)
    log = StepLog(list(stable.losses), stable.seconds, stable.samples)
    train_steps(twin, twin_optimizer, scheduler, sampler, budget.decay_start, budget.iterations, dev, log)
    return Branch(budget, twin, log, budget.iterations - budget.decay_start, log.seconds - stable.seconds)


def train_nested(
    spec: ArchSpec,
    budgets: Sequence[ProxyBudget],
    train: Sequence[NamedImage] | Sequence[Picture],
    val: ValidationSet,
    seed: int = 0,
    device: str | None = None,
    skip: Callable[[ProxyBudget], bool] = lambda _: False,
) -> list[tuple[ProxyResult, Branch]]:
    """Each budget's proxy result (validated at its end), shortest first, from one nested run."""
    dev = resolve_device(device)
    out: list[tuple[ProxyResult, Branch]] = []

    def score(branch: Branch) -> None:
        out.append((score_proxy(branch.model, branch.log, val, dev, seed, branch.budget), branch))

    with interruptible():  # a training holds no stored state: a stop may drop it at once (nas.stops)
        fit_nested(spec, budgets, train, seed, device, score, skip)
    return out
