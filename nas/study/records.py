"""A study read back as architectures: one record per distinct spec, with its objectives by name.

A search may evaluate one architecture several times (a repeat is not trained again and
points at the first trial); every tool that reads a study (progress line, summary, report,
export, analysis, fidelity, noise-aware front) counts each architecture once, through
:func:`arch_records`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.study import keys
from nas.study.naming import arch_name
from nas.study.objectives import objectives_of
from space import ArchSpec
from studies import MACS, PARAMS, PSNR, Objective


@dataclass(frozen=True)
class ArchRecord:
    """One distinct architecture of a study: its first COMPLETE trial, read through the study's objectives."""

    trial: FrozenTrial
    objectives: tuple[Objective, ...]

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def spec_hash(self) -> str:
        return str(self.trial.user_attrs[keys.SPEC_HASH])

    @cached_property
    def spec(self) -> ArchSpec:
        return ArchSpec.from_dict(json.loads(self.trial.user_attrs[keys.SPEC]))

    @property
    def preset(self) -> str | None:
        return self.trial.user_attrs.get(keys.PRESET)

    @property
    def name(self) -> str:
        """The paper variant's name, or the spec hash."""
        return arch_name(self.preset, self.spec_hash)

    @cached_property
    def values(self) -> dict[str, float]:
        """The trial's objective values by objective name."""
        assert self.trial.values is not None
        return {o.name: float(v) for o, v in zip(self.objectives, self.trial.values, strict=True)}

    def value(self, objective: Objective | str) -> float:
        return self.values[objective if isinstance(objective, str) else objective.name]

    @property
    def point(self) -> tuple[float, ...]:
        """The objective values in the study's order (for fronts, with :attr:`directions`)."""
        return tuple(self.values[o.name] for o in self.objectives)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(o.direction for o in self.objectives)

    @property
    def psnr(self) -> float:
        return self.value(PSNR)

    @property
    def macs(self) -> float:
        return self.value(MACS)

    @property
    def params(self) -> float:
        return self.value(PARAMS)

    @property
    def ssim(self) -> float | None:
        ssim = self.trial.user_attrs.get(keys.SSIM)
        return None if ssim is None else float(ssim)

    @property
    def gain(self) -> float | None:
        """Proxy PSNR minus bicubic's on the same images (dB); at or below 0 the proxy learned nothing."""
        gain = self.trial.user_attrs.get(keys.GAIN)
        return None if gain is None else float(gain)

    @property
    def learned(self) -> bool:
        """Whether the proxy beat bicubic (unknown counts as yes)."""
        return self.gain is None or self.gain > 0

    @property
    def seed(self) -> int:
        return int(self.trial.user_attrs.get(keys.SEED, 0))

    @property
    def queued(self) -> bool:
        """Whether nas.search queued the trial (a named variant) rather than the sampler drawing it."""
        return bool(self.trial.user_attrs.get(keys.QUEUED, False))

    def attr(self, key: str, default: Any = None) -> Any:
        return self.trial.user_attrs.get(key, default)


def is_result(trial: FrozenTrial) -> bool:
    """A COMPLETE trial that is an architecture's own result (not a repeat that copies another's)."""
    return (
        trial.state == TrialState.COMPLETE
        and keys.SPEC_HASH in trial.user_attrs
        and keys.DUPLICATE_OF not in trial.user_attrs
    )


def records_of(trials: Sequence[FrozenTrial], objectives: tuple[Objective, ...]) -> list[ArchRecord]:
    """The first COMPLETE result of each distinct architecture among ``trials``, in trial order."""
    seen: set[str] = set()
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        if not is_result(t) or t.user_attrs[keys.SPEC_HASH] in seen:
            continue
        key = str(t.user_attrs[keys.SPEC_HASH])
        seen.add(key)
        out.append(ArchRecord(t, objectives))
    return out


def arch_records(study: optuna.Study) -> list[ArchRecord]:
    """The first COMPLETE trial of each distinct architecture of a study, in trial order."""
    return records_of(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), objectives_of(study))


def why_not(trial: FrozenTrial) -> str:
    """Why a trial has no result of its own: its rejection, failure reason or state, as one line."""
    attrs = trial.user_attrs
    reason = attrs.get(keys.REJECTED) or attrs.get(keys.FAIL_REASON)
    if reason is None and keys.STOPPED_AT_RUNG in attrs:
        reason = f"stopped by successive halving after rung {attrs[keys.STOPPED_AT_RUNG]}"
    if reason is None and keys.STOPPED_AT in attrs:
        reason = f"stopped at iteration {attrs[keys.STOPPED_AT]}: its learning curve ranked out"
    if reason is None and keys.DUPLICATE_OF in attrs:
        reason = f"repeat of trial {attrs[keys.DUPLICATE_OF]}"
    text = str(reason or trial.state.name.lower()).strip()
    return text.splitlines()[0] if text else trial.state.name.lower()
