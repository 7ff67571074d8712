"""A full training run's state and its checkpoint: written atomically by rank 0, read back by ``--resume``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import InputError, one_line
from nas.files import replacing
from nas.sr.patches import PatchSampler
from nas.sr.pictures import NamedImage
from nas.training.distributed import Ranks, unwrap
from nas.training.recipe import RECIPE, check_recipe
from space.arch import ArchSpec

CHECKPOINT = "checkpoint.pt"


@dataclass
class Run:
    """Everything a training run needs, assembled from the command line."""

    spec: ArchSpec
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: PatchSampler
    device: torch.device
    out: Path
    history: list[dict[str, Any]]
    val: list[NamedImage]
    start: int = 0
    ranks: Ranks = field(default_factory=Ranks)
    workers: int = 0
    recipe: dict[str, Any] = field(default_factory=dict)  # recipe_of: saved in checkpoints and final.json
    protocol: dict[str, Any] = field(default_factory=dict)  # protocol_of: final.json

    @property
    def network(self) -> nn.Module:
        """The network itself (inside its DistributedDataParallel wrapper under torchrun)."""
        return unwrap(self.model)


def layout(run: Run) -> dict[str, int]:
    """How the global batch was split: recorded in each checkpoint and in final.json."""
    return {"world_size": run.ranks.world_size, "batch_per_rank": run.sampler.per_rank}


def save_checkpoint(run: Run, iteration: int) -> None:
    """Write the checkpoint to a fresh file beside the old one, then rename: a kill never leaves a torn file, and a
    link planted beside it is never written through (rank 0 only)."""
    if not run.ranks.main:
        return
    state = {
        "iteration": iteration,
        "spec": run.spec.to_dict(),
        "spec_hash": run.spec.spec_hash,
        "model": run.network.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": run.history,
        RECIPE: run.recipe,
        **layout(run),
    }
    with replacing(run.out / CHECKPOINT) as file:
        torch.save(state, file)


def load_checkpoint(run: Run) -> None:
    """Continue from ``OUT/checkpoint.pt``; a file that is not one of ours is an error naming it (and kept)."""
    path = run.out / CHECKPOINT
    try:
        state = torch.load(path, map_location=run.device, weights_only=True)
        missing = [
            k for k in ("iteration", "spec_hash", "model", "optimizer", "scheduler", "history") if k not in state
        ]
    except Exception as err:  # torch.load raises many kinds for a truncated, empty or foreign file
        raise InputError(f"--resume: {path} is not a readable checkpoint ({one_line(err)[:120]}); it is kept") from None
    if missing:
        raise InputError(f"--resume: {path} is not an msnas checkpoint (no {', '.join(missing)}); it is kept")
    if state["spec_hash"] != run.spec.spec_hash:
        raise InputError(f"--resume: {run.out / CHECKPOINT} is for another architecture ({state['spec_hash']})")
    run.network.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    check_recipe(path, state.get(RECIPE), run.recipe)
    run.history = list(state["history"])
    run.start = int(state["iteration"])
