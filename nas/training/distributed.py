"""Data-parallel training on PyTorch's own engine: the ranks ``torchrun`` starts, joined with NCCL or gloo.

A process not started by ``torchrun`` is rank 0 of 1 and never touches ``torch.distributed``, so a plain run
is exactly what it was.  Under ``torchrun`` every rank trains a DistributedDataParallel copy on its slice of
each global batch (``PatchSampler.shard``); rank 0 alone logs, validates, checkpoints and evaluates.

Example::

    torchrun --standalone --nproc_per_node 8 -m nas.train --arch ms3.json --data DIV2K/DIV2K_train_HR
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun sets in each process it starts
# the other ranks wait in their next all-reduce while rank 0 validates and checkpoints: allow a long validation
COLLECTIVE_TIMEOUT = timedelta(hours=1)


@dataclass(frozen=True)
class Ranks:
    """This process's place in a launch: its rank, how many there are, and its index on this machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that logs, validates, checkpoints and evaluates."""
        return self.rank == 0


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (or another launcher setting its variables)."""
    return all(name in os.environ for name in LAUNCH_VARIABLES)


def launch_ranks() -> Ranks:
    """The ranks of this launch, from torchrun's variables (rank 0 of 1 without them); no group is joined."""
    if not launched():
        return Ranks()
    return Ranks(*(int(os.environ[name]) for name in LAUNCH_VARIABLES))


def join(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the launch's process group (NCCL on CUDA, gloo on the CPU) and pick this rank's device.

    On CUDA each rank takes the GPU of its local rank.  Without torchrun nothing happens.
    """
    ranks = launch_ranks()
    if not launched():
        return ranks, device
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        cuda = device if device.type == "cuda" else None
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT, device_id=cuda)
    return ranks, device


def leave() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model as DistributedDataParallel when a group is joined (gradients averaged over ranks), else itself."""
    if not (dist.is_available() and dist.is_initialized()):
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (its state_dict keys are a plain run's)."""
    return model.module if isinstance(model, DistributedDataParallel) else model
