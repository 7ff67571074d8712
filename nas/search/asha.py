"""Asynchronous multi-objective successive halving (``nas.search --asha``): MO-ASHA on Optuna's storage.

Rung ``r`` trains at ``eta**(r - rungs)`` of the proxy budget; the last rung is the proxy itself, so
its candidates end as COMPLETE trials comparable with any other.  Each worker, again and again:
promotes a candidate if one is promotable (highest rung first; the rule is
``nas.analysis.promotion``: the top floor(n_r / eta) by non-dominated rank of the candidates that
finished rung r), otherwise asks the sampler for a new candidate and trains it at rung 0, until it
has started ``--n-trials`` candidates and nothing is left to promote.  No worker waits for a rung
to fill, and any number of workers share one storage: a promotion is claimed atomically in the
claims table (key ``<spec hash>@r<rung>``), so each candidate climbs each rung once.

A candidate is a trial left RUNNING between rungs, its rung results in user attributes
(``rung_<r>``); at the end a worker PRUNES its own candidates that no rung promoted
(``stopped_at_rung``).  As in ASHA, a candidate that would have become promotable only after
every worker stopped is not trained further.  A killed worker's candidates are failed by the
next run on its machine (their host and PID are recorded), like any other trial.
"""

from __future__ import annotations

import os
import secrets
import warnings
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.analysis.promotion import promotable
from nas.search.halving import Rungs, guarded
from nas.search.objective import Searcher
from nas.search.progress import Progress
from nas.study import keys
from nas.study.claims import Claims
from nas.study.naming import trial_arch_name
from nas.study.optuna_adapter import live_trial
from nas.study.owners import local_pid, owner
from nas.study.records import ArchRecord
from nas.training.proxy import train_proxy
from space.arch import ArchSpec
from studies import PSNR

IDLE_DRAWS = 20  # draws in a row that train nothing (repeats, over budget): the space is used up for this worker
WORKER_TOKEN = secrets.randbits(31)  # who holds a promotion claim: this process, among any number of machines


@dataclass(frozen=True)
class Promotion:
    trial: FrozenTrial
    rung: int  # the rung it is promoted to


def rung_psnr(trial: FrozenTrial, rung: int) -> float | None:
    found = trial.user_attrs.get(keys.rung_key(rung))
    return float(found["psnr"]) if isinstance(found, dict) else None


def candidates(study: optuna.Study) -> list[FrozenTrial]:
    """The RUNNING trials that hold a rung result: the ladder's live candidates."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t for t in running if rung_psnr(t, 0) is not None]


def promotion_key(trial: FrozenTrial, rung: int) -> str:
    return f"{trial.user_attrs[keys.SPEC_HASH]}@r{rung}"


def next_promotion(study: optuna.Study, ladder: Rungs, claims: Claims | None, taken: set[str]) -> Promotion | None:
    """The highest-rung promotable candidate whose promotion this worker has just claimed; None if none."""
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and rung_psnr(t, 0) is not None]
    live = candidates(study)
    for rung in range(ladder.rungs - 1, -1, -1):
        # every candidate that finished rung ``rung`` counts for n_r, including those that went on or ended
        at_rung = [t for t in (*live, *finished) if rung_psnr(t, rung) is not None]
        if not at_rung:
            continue
        losses = np.array(
            [
                [-(rung_psnr(t, rung) or 0.0), t.user_attrs[keys.MACS_KEY], t.user_attrs[keys.PARAMS_KEY]]
                for t in at_rung
            ]
        )
        went_on = {i for i, t in enumerate(at_rung) if not _promotable_state(t, rung, claims, taken)}
        for i in promotable(losses, went_on, ladder.eta):
            t = at_rung[i]
            key = promotion_key(t, rung + 1)
            if claims is None:
                taken.add(key)
                return Promotion(t, rung + 1)
            if claims.claim(key, WORKER_TOKEN) == WORKER_TOKEN and key not in taken:
                taken.add(key)
                return Promotion(t, rung + 1)
    return None


def _promotable_state(trial: FrozenTrial, rung: int, claims: Claims | None, taken: set[str]) -> bool:
    """Still RUNNING, without a result or a claim at the next rung."""
    if trial.state != TrialState.RUNNING or rung_psnr(trial, rung + 1) is not None:
        return False
    key = promotion_key(trial, rung + 1)
    return key not in taken and (claims is None or claims.holder(key) is None)


def run_asha(study: optuna.Study, searcher: Searcher, quota: int, ladder: Rungs) -> float:
    """Start up to ``quota`` candidates (repeats are free) and promote while anything is promotable; returns
    the full proxy runs spent."""
    spent, started, idle, taken = 0.0, 0, 0, set[str]()
    progress = Progress(0, prefix="asha: ")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage")  # asked trials: see nas.search.halving
        while True:
            job = next_promotion(study, ladder, searcher.claims, taken)
            if job is not None:
                spent += _promote(study, searcher, job, ladder, progress)
            elif started < quota and idle < IDLE_DRAWS:
                cost = _start(study, searcher, ladder, progress, started + 1, quota)
                started, idle = (started + 1, 0) if cost else (started, idle + 1)
                spent += cost
            else:
                break
        if idle >= IDLE_DRAWS:
            progress.say(f"stopped drawing: {IDLE_DRAWS} draws in a row were repeats or over budget")
        stopped = _prune_own(study, ladder, searcher.claims)
        progress.say(f"done: {started} candidates started, {spent:.2f} full proxy runs spent, {stopped} stopped")
    return spent


def _prune_own(study: optuna.Study, ladder: Rungs, claims: Claims | None) -> int:
    """PRUNE this worker's candidates that wait for a promotion (not one another worker is training now)."""
    me, stopped = os.getpid(), 0
    for t in candidates(study):
        if local_pid(t.user_attrs) != me:
            continue
        top = max(r for r in range(ladder.rungs + 1) if rung_psnr(t, r) is not None)
        if claims is not None and claims.holder(promotion_key(t, top + 1)) is not None:
            continue  # claimed by a worker that trains it now: that worker owns it
        live_trial(study, t).set_user_attr(keys.STOPPED_AT_RUNG, top)
        study.tell(t.number, state=TrialState.PRUNED)
        stopped += 1
    return stopped


def _start(study: optuna.Study, searcher: Searcher, ladder: Rungs, progress: Progress, n: int, quota: int) -> float:
    """Ask a new candidate and train it at rung 0 (a repeat or an over-budget draw costs nothing)."""
    trial = study.ask()
    pending = {t.user_attrs[keys.SPEC_HASH] for t in candidates(study)}
    try:
        admitted = guarded(study, trial, searcher.admit, trial, pending)  # a repeat's copy may fail (UnsafeName)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        return 0.0
    if admitted is None:
        return 0.0
    spec, reused = admitted
    name = trial_arch_name(trial.number, trial.user_attrs)
    if reused is not None:
        study.tell(trial, reused)
        progress.say(f"[{n}/{quota}] trial {trial.number} {name}: a repeat, its earlier result")
        return 0.0
    if spec.spec_hash in pending:
        trial.set_user_attr(keys.REJECTED, "repeat of a candidate already on the ladder")
        study.tell(trial, state=TrialState.PRUNED)
        return 0.0
    psnr = _train_rung(study, searcher, trial, spec, 0, ladder)
    progress.say(f"[{n}/{quota}] trial {trial.number} {name}: rung 0 PSNR {psnr:.3f}")
    return ladder.factor(0)


def _promote(study: optuna.Study, searcher: Searcher, job: Promotion, ladder: Rungs, progress: Progress) -> float:
    """Train a promoted candidate at its new rung; at the last rung it becomes a COMPLETE trial."""
    trial = live_trial(study, job.trial)
    try:  # the worker that trains a candidate owns it: it stops it at its end, or its death fails it
        for key, value in owner().items():
            trial.set_user_attr(key, value)
    except RuntimeError:  # its owner stopped it between our claim and now
        return 0.0
    spec = ArchRecord(job.trial, searcher.definition.objectives).spec
    name = trial_arch_name(job.trial.number, job.trial.user_attrs)
    if job.rung < ladder.rungs:
        psnr = _train_rung(study, searcher, trial, spec, job.rung, ladder)
        progress.say(f"promoted trial {job.trial.number} {name}: rung {job.rung} PSNR {psnr:.3f}")
        return ladder.factor(job.rung)
    budget = searcher.budget.scaled(ladder.factor(job.rung))
    values = guarded(study, trial, searcher.evaluate, trial, spec, budget)
    if values is None:
        return ladder.factor(job.rung)
    psnr = values[searcher.definition.objectives.index(PSNR)]
    trial.set_user_attr(keys.rung_key(job.rung), {"psnr": psnr, "iterations": budget.iterations})
    study.tell(job.trial.number, values)
    progress.say(f"promoted trial {job.trial.number} {name}: the full proxy, PSNR {psnr:.3f}, COMPLETE")
    return ladder.factor(job.rung)


def _train_rung(
    study: optuna.Study, searcher: Searcher, trial: optuna.Trial, spec: ArchSpec, rung: int, ladder: Rungs
) -> float:
    """One rung's training; its PSNR recorded on the trial (a divergence fails the trial and scores -inf)."""
    budget = searcher.budget.scaled(ladder.factor(rung))
    dev = searcher.device.type
    result = guarded(study, trial, train_proxy, spec, budget, searcher.train, searcher.val, searcher.seed, dev)
    if result is None:
        return float("-inf")
    trial.set_user_attr(keys.rung_key(rung), {"psnr": result.psnr, "iterations": budget.iterations})
    return result.psnr
