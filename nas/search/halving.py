"""Successive halving for a multi-objective search (``nas.search --halving``).

Optuna's pruners refuse multi-objective studies (``Trial.report`` raises), so the
rungs are run here with ask-and-tell.  The sampler proposes N candidates; each
rung trains the survivors from scratch at ``eta**(rung - rungs)`` times the proxy
budget; between rungs the candidates are split into groups of similar MACs and
the best ``1/eta`` of each group by PSNR goes on, so cheap architectures compete
with cheap ones and the front keeps its low-cost end.  The last rung is the
ordinary proxy: survivors become COMPLETE trials comparable with any other trial
of the study; the others are PRUNED with their rung results in user attributes.

Cost: with N = m * eta**rungs candidates the rungs cost m * (rungs + 1) full proxy
runs, against N for training every candidate fully.

Asked trials run without Optuna's heartbeat, but each records its worker's host and PID: the
next run on this machine fails a killed run's RUNNING trials at once (``tests/nas/faults/``),
and its own candidates claim their architectures again.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import optuna
from optuna.trial import TrialState

from nas.search.objective import Searcher
from nas.search.progress import Progress
from nas.study import keys
from nas.study.naming import trial_arch_name
from nas.training.loop import DivergenceError
from nas.training.proxy import train_proxy
from space.arch import ArchSpec
from studies import PSNR

T = TypeVar("T")


@dataclass(frozen=True)
class Rungs:
    """The budget ladder: rung ``r`` trains for ``eta**(r - rungs)`` of the proxy's iterations."""

    eta: int
    rungs: int

    def __post_init__(self) -> None:
        if self.eta < 2 or self.rungs < 1:
            raise ValueError(f"halving: eta must be >= 2 and rungs >= 1 (got eta {self.eta}, rungs {self.rungs})")

    def factor(self, rung: int) -> float:
        return float(self.eta ** (rung - self.rungs))

    def groups(self, candidates: int) -> int:
        """How many MAC groups: as many as the candidates expected to reach the last rung."""
        return max(1, math.ceil(candidates / self.eta**self.rungs))

    def cost(self, candidates: int) -> float:
        """Full proxy runs the ladder spends on ``candidates`` (ignoring rounding up within groups)."""
        alive, total = float(candidates), 0.0
        for rung in range(self.rungs + 1):
            total += alive * self.factor(rung)
            alive /= self.eta
        return total


def promote(macs: Sequence[float], psnr: Sequence[float], eta: int, groups: int) -> list[int]:
    """Indices that go on: per group of similar MACs (contiguous in MAC order), the best ceil(n/eta) by PSNR."""
    order = np.argsort(np.asarray(macs, dtype=float), kind="stable")
    keep: list[int] = []
    for chunk in np.array_split(order, max(1, min(groups, len(order)))):  # no candidates: one empty group
        ranked = sorted(chunk.tolist(), key=lambda i: -psnr[i])
        keep += ranked[: math.ceil(len(ranked) / eta)]
    return sorted(keep)


@dataclass
class Candidate:
    trial: optuna.Trial
    spec: ArchSpec

    @property
    def macs(self) -> float:
        return float(self.trial.user_attrs[keys.MACS_KEY])

    @property
    def name(self) -> str:
        return trial_arch_name(self.trial.number, self.trial.user_attrs)


def ask_candidates(study: optuna.Study, searcher: Searcher, n: int) -> list[Candidate]:
    """Ask ``n`` trials; over-budget ones are told PRUNED, repeats of finished ones told their values."""
    out: list[Candidate] = []
    batch: dict[str, int] = {}
    for _ in range(n):
        trial = study.ask()
        try:
            admitted = guarded(study, trial, searcher.admit, trial, batch)  # a repeat's copy may fail (UnsafeName)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        if admitted is None:
            continue
        spec, reused = admitted
        if reused is not None:
            study.tell(trial, reused)
        elif spec.spec_hash in batch:
            trial.set_user_attr(keys.REJECTED, f"repeat of trial {batch[spec.spec_hash]} in the same halving batch")
            study.tell(trial, state=TrialState.PRUNED)
        else:
            batch[spec.spec_hash] = trial.number
            out.append(Candidate(trial, spec))
    return out


def run_halving(study: optuna.Study, searcher: Searcher, candidates: int, ladder: Rungs) -> float:
    """Run the ladder on ``candidates`` asked trials; returns the full proxy runs spent."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage")  # said on every ask(); see the module note
        live = ask_candidates(study, searcher, candidates)
        groups = ladder.groups(len(live))
        spent = 0.0
        overall = Progress(0, prefix="halving: ")
        for rung in range(ladder.rungs):
            spent += len(live) * ladder.factor(rung)
            live = _rung(study, searcher, live, rung, ladder, groups)
        spent += len(live) * ladder.factor(ladder.rungs)
        _last_rung(study, searcher, live, ladder)
        overall.say(f"done: {spent:.2f} full proxy runs spent")
    return spent


def _rung_progress(rung: int, live: Sequence[Candidate], iterations: int) -> Progress:
    """A rung's progress lines (``halving: rung R [i/n] ...``), after the line that opens the rung."""
    Progress(0, prefix="halving: ").say(f"rung {rung}: {len(live)} candidates at {iterations} iterations")
    return Progress(len(live), prefix=f"halving: rung {rung} ")


def _rung(
    study: optuna.Study,
    searcher: Searcher,
    live: list[Candidate],
    rung: int,
    ladder: Rungs,
    groups: int,
) -> list[Candidate]:
    """Train every live candidate at the rung's budget; PRUNE all but the best 1/eta per MAC group."""
    budget = searcher.budget.scaled(ladder.factor(rung))
    progress = _rung_progress(rung, live, budget.iterations)
    scores = []
    for c in live:
        dev = searcher.device.type
        result = guarded(study, c.trial, train_proxy, c.spec, budget, searcher.train, searcher.val, searcher.seed, dev)
        if result is not None:
            c.trial.set_user_attr(keys.rung_key(rung), {"psnr": result.psnr, "iterations": budget.iterations})
        scores.append(result.psnr if result is not None else -math.inf)
        progress.step(f"trial {c.trial.number} {c.name}: PSNR {scores[-1]:.3f}")
    failed = {i for i, x in enumerate(scores) if x == -math.inf}
    kept = set(promote([c.macs for c in live], scores, ladder.eta, groups)) - failed
    for i, c in enumerate(live):
        if i not in kept and i not in failed:
            c.trial.set_user_attr(keys.STOPPED_AT_RUNG, rung)
            study.tell(c.trial, state=TrialState.PRUNED)
    return [c for i, c in enumerate(live) if i in kept]


def _last_rung(study: optuna.Study, searcher: Searcher, live: list[Candidate], ladder: Rungs) -> None:
    """The survivors train at the full proxy budget and become COMPLETE trials like any other."""
    budget = searcher.budget.scaled(ladder.factor(ladder.rungs))
    progress = _rung_progress(ladder.rungs, live, budget.iterations)
    for c in live:
        values = guarded(study, c.trial, searcher.evaluate, c.trial, c.spec, budget)
        if values is not None:
            study.tell(c.trial, values)
        psnr = "failed" if values is None else f"PSNR {values[searcher.definition.objectives.index(PSNR)]:.3f}"
        progress.step(f"trial {c.trial.number} {c.name}: {psnr}")


def guarded(study: optuna.Study, trial: optuna.Trial, work: Callable[..., T], *args: Any) -> T | None:
    """Run one candidate's admission or training; a divergence, runtime or value error (a refused artifact name)
    fails that trial only, with its reason."""
    try:
        return work(*args)
    except (DivergenceError, RuntimeError, ValueError) as err:
        trial.set_user_attr(keys.FAIL_REASON, f"{err.__class__.__name__}: {err}")
        study.tell(trial, state=TrialState.FAIL)
        return None
