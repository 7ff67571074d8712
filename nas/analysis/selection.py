"""Which trial to export: by number, by named variant, the knee of the front, or the best under a MAC cap.

Candidates are the study's architecture records (each distinct architecture once, its first
COMPLETE trial); ``--trial N`` may name any COMPLETE trial, a repeat included (it holds the
same spec).  PRUNED (over budget) and FAILED trials are never candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from nas.analysis.fronts import front, knee
from nas.errors import InputError
from nas.study.records import ArchRecord, why_not


def by_number(trials: Sequence[FrozenTrial], records: Sequence[ArchRecord], number: int) -> FrozenTrial:
    """Trial ``number``, which must exist and be COMPLETE."""
    found = next((t for t in trials if t.number == number), None)
    if found is None:
        known = f"trials 0 to {len(trials) - 1}" if trials else "no trials"
        raise InputError(f"--trial: no trial {number} (the study has {known})")
    if found.state != TrialState.COMPLETE:
        raise InputError(f"--trial: trial {number} is {found.state.name}, not COMPLETE ({why_not(found)})")
    return found


def by_preset(trials: Sequence[FrozenTrial], records: Sequence[ArchRecord], name: str) -> FrozenTrial:
    """The trial that evaluated the named variant ``name`` (later repeats only copy its result)."""
    match = next((r for r in records if r.preset == name), None)
    if match is None:
        known = ", ".join(sorted({r.preset for r in records if r.preset})) or "none"
        raise InputError(f"--preset: no COMPLETE trial of {name!r} (COMPLETE presets: {known})")
    return match.trial


def by_max_macs(trials: Sequence[FrozenTrial], records: Sequence[ArchRecord], gmacs: float) -> FrozenTrial:
    """The best-PSNR architecture with at most ``gmacs`` * 1e9 MACs (ties: fewer MACs, then lower number)."""
    under = [r for r in records if r.macs <= gmacs * 1e9]
    if not under:
        fewest = f"the fewest is {min(r.macs for r in records) / 1e9:.4g} G" if records else "no trial is COMPLETE"
        raise InputError(f"--max-macs: no COMPLETE trial has at most {gmacs:g} G MACs ({fewest})")
    return min(under, key=lambda r: (-r.psnr, r.macs, r.number)).trial


def by_knee(trials: Sequence[FrozenTrial], records: Sequence[ArchRecord], _flag: object) -> FrozenTrial:
    """The knee (on PSNR vs MACs) of the study's Pareto front on all its objectives."""
    if not records:
        raise InputError("--knee: the study has no COMPLETE trial, so its Pareto front is empty")
    return knee(front(records)).trial


Selector = Callable[[Sequence[FrozenTrial], Sequence[ArchRecord], Any], FrozenTrial]
SELECTORS: dict[str, Selector] = {
    "trial": by_number,
    "preset": by_preset,
    "knee": by_knee,
    "max_macs": by_max_macs,
}


def select(trials: Sequence[FrozenTrial], records: Sequence[ArchRecord], mode: str, argument: Any) -> FrozenTrial:
    """The trial that selector ``mode`` picks with ``argument``; InputError when there is none."""
    return SELECTORS[mode](trials, records, argument)
