"""Refuse, before allocating, a network and input whose feature maps cannot fit the device's memory."""

from __future__ import annotations

import os

import torch

from nas.errors import InputError
from space.arch import ArchSpec
from space.cost import activation_bytes

GIB = 2**30


def device_bytes(device: torch.device) -> int:
    """The memory of a CUDA device, or the machine's physical memory for the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(
    spec: ArchSpec, lr_size: tuple[int, int], batch: int, training: bool, device: torch.device, field: str
) -> None:
    """InputError naming ``field`` when the estimated feature maps exceed the device's memory (both numbers)."""
    need, have = activation_bytes(spec, lr_size, batch, training), device_bytes(device)
    if need > have:
        step = f"a training step at batch {batch}" if training else "inference"
        raise InputError(
            f"{field}: {step} on {lr_size[0]}x{lr_size[1]} LR inputs needs about {need / GIB:.1f} GiB of feature "
            f"maps at width {spec.width}; the {device.type} has {have / GIB:.1f} GiB"
        )
