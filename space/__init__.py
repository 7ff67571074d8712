"""The declarative search space: Eqn-1 unit specs, architecture specs, presets and analytic cost.

Pure data: nothing here imports torch or optuna.
"""

from __future__ import annotations

from space.arch import STANDARD_UNIT, ArchSpec, entry_for, exit_for, load_spec
from space.cost import Cost, analytic_cost, check_lr_size
from space.errors import SpecError
from space.layout import ConvSite, Layout, layout_of
from space.presets import PRESETS, Preset, cross_edges, intra_edges, ms3_unit, preset
from space.unit import Branches, Edge, UnitSpec

__all__ = [
    "PRESETS",
    "STANDARD_UNIT",
    "ArchSpec",
    "Branches",
    "ConvSite",
    "Cost",
    "Edge",
    "Layout",
    "Preset",
    "SpecError",
    "UnitSpec",
    "analytic_cost",
    "check_lr_size",
    "cross_edges",
    "entry_for",
    "exit_for",
    "intra_edges",
    "layout_of",
    "load_spec",
    "ms3_unit",
    "preset",
]
