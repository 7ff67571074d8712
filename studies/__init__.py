"""Named study definitions (typed data: space, backbone, objectives, budgets, sampler).

The search runner (``python -m nas.search``) reads these; this package imports ``space`` only.
"""

from __future__ import annotations

from studies.budget import CPU_PROXY, GPU_PROXY, ProxyBudget
from studies.definitions import DIRECTIONS, OBJECTIVES, STUDIES, StudyDef, register

__all__ = ["CPU_PROXY", "DIRECTIONS", "GPU_PROXY", "OBJECTIVES", "STUDIES", "ProxyBudget", "StudyDef", "register"]
