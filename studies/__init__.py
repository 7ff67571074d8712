"""Named study definitions (typed data: space, backbone, objectives, budgets, sampler).

The search runner (``python -m nas.search``) reads these; this package imports ``space`` only.
"""

from __future__ import annotations

from studies.budget import CPU_PROXY, GPU_PROXY, ProxyBudget
from studies.definitions import (
    BASE_OBJECTIVES,
    DEFAULT_ROPE,
    DIRECTIONS,
    LATENCY,
    MACS,
    OBJECTIVES,
    PARAMS,
    PSNR,
    STUDIES,
    Objective,
    StudyDef,
    register,
)

__all__ = [
    "BASE_OBJECTIVES",
    "CPU_PROXY",
    "DEFAULT_ROPE",
    "DIRECTIONS",
    "GPU_PROXY",
    "LATENCY",
    "MACS",
    "OBJECTIVES",
    "PARAMS",
    "PSNR",
    "STUDIES",
    "Objective",
    "ProxyBudget",
    "StudyDef",
    "register",
]
