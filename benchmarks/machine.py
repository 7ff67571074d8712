"""What a benchmark ran on, printed with its figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def openmp_waiting() -> str:
    """How idle OpenMP threads wait: the variables the latency objective records too."""
    from nas.measure.latency import OPENMP_WAITING

    settings = [f"{name}={os.environ[name]}" for name in OPENMP_WAITING.values() if name in os.environ]
    return ", ".join(settings) or "libgomp's default OpenMP waiting"


def describe() -> str:
    """The machine line, with how OpenMP threads wait and whether freed memory is kept (nas.allocator)."""
    import torch

    from nas.allocator import memory_kept

    allocator = "freed memory kept" if memory_kept() else "freed memory returned to the system (glibc default)"
    return (
        f"{cpu_name()}, {os.cpu_count()} cores visible, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, {openmp_waiting()}, {allocator}"
    )
