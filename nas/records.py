"""A finished study read back as architectures: one record per distinct spec, for analysis and re-training.

A search may evaluate one architecture several times (a repeat is not trained
again and points at the first trial); the tools that read a study count each
architecture once, through :func:`arch_records`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.cli import UsageError
from nas.search import storage_for
from space import ArchSpec
from studies import DIRECTIONS


def join_names(items: Iterable[str]) -> str:
    return ", ".join(items) or "none"


def open_existing_study(url: str, name: str) -> optuna.Study:
    """Load an existing msnas study; a missing SQLite file or study is an error, never a new empty one."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise UsageError(f"--storage: no such SQLite file: {url.removeprefix('sqlite:///')}")
    storage = storage_for(url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        found = optuna.get_all_study_names(storage)
        raise UsageError(f"--study: no study {name!r} in {url} (found: {join_names(found)})") from None
    directions = [d.name.lower() for d in study.directions[: len(DIRECTIONS)]]
    if directions != list(DIRECTIONS):
        raise UsageError(f"--study: {name!r} is not an msnas study (directions {directions}, expected {DIRECTIONS})")
    return study


@dataclass(frozen=True)
class ArchRecord:
    """One distinct architecture of a study: its first COMPLETE trial's measurements."""

    trial: FrozenTrial

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def spec_hash(self) -> str:
        return str(self.trial.user_attrs["spec_hash"])

    @cached_property
    def spec(self) -> ArchSpec:
        return ArchSpec.from_dict(json.loads(self.trial.user_attrs["spec"]))

    @property
    def name(self) -> str:
        """The paper variant's name, or the spec hash."""
        return str(self.trial.user_attrs.get("preset") or self.spec_hash)

    @property
    def preset(self) -> str | None:
        return self.trial.user_attrs.get("preset")

    @property
    def psnr(self) -> float:
        assert self.trial.values is not None
        return float(self.trial.values[0])

    @property
    def macs(self) -> float:
        return float(self.trial.user_attrs["macs"])

    @property
    def params(self) -> float:
        return float(self.trial.user_attrs["params"])

    @property
    def values(self) -> tuple[float, ...]:
        assert self.trial.values is not None
        return tuple(self.trial.values)

    @property
    def seed(self) -> int:
        return int(self.trial.user_attrs.get("seed", 0))

    @property
    def queued(self) -> bool:
        """Whether the trial was queued by hand (a named variant), not drawn by the sampler."""
        return "fixed_params" in self.trial.system_attrs

    def attr(self, key: str, default: Any = None) -> Any:
        return self.trial.user_attrs.get(key, default)


def arch_records(study: optuna.Study) -> list[ArchRecord]:
    """The first COMPLETE trial of each distinct architecture, in trial order."""
    seen: set[str] = set()
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = t.user_attrs.get("spec_hash")
        if key is None or key in seen or "duplicate_of" in t.user_attrs:
            continue
        seen.add(key)
        out.append(ArchRecord(t))
    return out
