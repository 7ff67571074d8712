"""Re-training a study's architectures at a longer budget and with more seeds (``nas.fidelity``).

Each re-training is a COMPLETE trial of the companion study ``NAME.fidelity`` in the same
storage (its user attributes name the source trial, the seed and the budget); optuna-dashboard
shows both.  A killed run resumes where it stopped: work already recorded is not trained again,
and ``shard = (I, N)`` splits the work between processes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from nas.analysis.fidelity import (
    DELTAS,
    FidelityStats,
    Pick,
    budget_of,
    fidelity_stats,
    first_of,
    gather,
    select,
    summary,
)
from nas.errors import InputError
from nas.search.compatible import check_init_rule
from nas.search.progress import Progress
from nas.search.proxy_attrs import objective_values, proxy_attrs
from nas.sr.data_identity import data_identity
from nas.sr.held_out import check_unseen, validation_images
from nas.sr.pictures import Picture, training_pictures
from nas.stops import deferring
from nas.study import keys
from nas.study.companion import data_key, is_companion, open_companion, recorded, work_key
from nas.study.naming import definition_of
from nas.study.records import arch_records
from nas.study.storage import DEFAULT_STORAGE, open_existing_study
from nas.study.versions import library_versions
from nas.training.loop import resolve_device
from nas.training.proxy import ProxyResult, ValidationSet, train_proxy
from studies import MACS, PARAMS, PSNR
from studies.budget import ProxyBudget

log = logging.getLogger(__name__)

Pictures = tuple[Picture, ...]


@dataclass(frozen=True)
class RetrainConfig:
    """A fidelity run as plain data (the command line's flags)."""

    study: str
    storage: str = DEFAULT_STORAGE
    k: int = 10
    budget_x: float = 3.0
    seeds: int = 2
    seed_start: int = 0
    sample_seed: int = 0
    shard: tuple[int, int] = (0, 1)
    first: tuple[str, ...] = ()
    report_only: bool = False
    deltas: tuple[float, ...] = DELTAS
    device: str = "auto"
    data: tuple[str, ...] = ()  # HR training folders, taken together (none: the bundled photos, as the search)
    val_data: tuple[str, ...] = ()  # HR validation folders (none: the bundled photos)


@dataclass(frozen=True)
class Work:
    pick: Pick
    budget: ProxyBudget
    factor: float
    seed: int
    data: Mapping[str, Any] | None = None  # the data identity it trains and validates on (nas.sr.data_identity)

    @property
    def key(self) -> str:
        return work_key(self.pick.record.spec_hash, self.budget, self.seed, self.data)


def plan(
    picks: Sequence[Pick], factor: float, seeds: int, seed_start: int = 0, data: Mapping[str, Any] | None = None
) -> list[Work]:
    """Every (architecture, seed) pair; seed-major, so a partial run already has every architecture once.

    ``seed_start`` adds seeds to a study whose earlier seeds were trained elsewhere (or are to come later).
    """
    seed_range = range(seed_start, seed_start + seeds)
    return [Work(p, budget_of(p.record, factor), factor, s, data) for s in seed_range for p in picks]


def reusable(work: Work) -> bool:
    """The proxy run itself: same seed at 1x on a CPU (deterministic there) and on the same data, so it need not
    run again."""
    r = work.pick.record
    same_data = data_key(r.attr(keys.DATA)) == data_key(work.data)
    return work.factor == 1 and work.seed == r.seed and r.attr(keys.DEVICE) == "cpu" and same_data


def store(fidelity: optuna.Study, work: Work, result: ProxyResult | None) -> None:
    """One re-training as a COMPLETE trial of the companion study (``result`` None: the original run)."""
    r = work.pick.record
    psnr = r.psnr if result is None else result.psnr
    attrs: dict[str, Any] = {
        keys.WORK_KEY: work.key,
        keys.SOURCE_TRIAL: r.number,
        keys.SPEC_HASH: r.spec_hash,
        keys.SPEC: r.attr(keys.SPEC),
        keys.MACS_KEY: r.macs,
        keys.PARAMS_KEY: r.params,
        keys.PICK_REASON: work.pick.reason,
        keys.BUDGET_X: work.factor,
        keys.PROXY: work.budget.as_dict(),
        keys.SEED: work.seed,
        keys.PROXY_PSNR: r.psnr,
        keys.PSNR_KEY: psnr,
        keys.VERSIONS: library_versions(),
    }  # a run trained here adds its own record (proxy_attrs): the same keys as the search trial's
    if r.preset:
        attrs[keys.PRESET] = r.preset
    if work.data is not None:
        attrs[keys.DATA] = dict(work.data)
    if result is None:
        attrs[keys.REUSED_TRIAL] = r.number
        if keys.PER_IMAGE_PSNR in r.trial.user_attrs:
            attrs[keys.PER_IMAGE_PSNR] = r.trial.user_attrs[keys.PER_IMAGE_PSNR]
    else:
        attrs.update(proxy_attrs(result, work.budget, work.seed))  # VAL_CURVE's long curves choose lc's family
    fidelity.add_trial(
        optuna.trial.create_trial(
            state=TrialState.COMPLETE,
            values=objective_values(fidelity, {PSNR.name: psnr, MACS.name: r.macs, PARAMS.name: r.params}),
            params=r.trial.params,
            distributions=r.trial.distributions,
            user_attrs=attrs,
        )
    )


def run_work(
    fidelity: optuna.Study, todo: Sequence[Work], config: RetrainConfig, data: tuple[Pictures, ValidationSet]
) -> int:
    """Train what is not yet recorded, one line of progress each; returns how many runs trained.

    The storage is asked again before each run, so two workers given opposite ``--first`` orders (no
    ``--shard``) meet in the middle instead of training the same runs twice.
    """
    device = resolve_device(config.device)
    train, val = data
    progress, trained = Progress(len(todo)), 0
    for work in todo:
        if work.key in recorded(fidelity):  # another worker, ordered differently, got there first
            progress.step(f"{work.pick.record.name} seed {work.seed} x{work.factor:g}: recorded by another worker")
            continue
        result = None
        if not reusable(work):
            result = train_proxy(work.pick.record.spec, work.budget, train, val, seed=work.seed, device=device.type)
            trained += 1
        with deferring():  # a stop during the training drops it; one while it is recorded waits for the record
            store(fidelity, work, result)
        psnr = work.pick.record.psnr if result is None else result.psnr
        itself = " (the proxy run itself)" if result is None else ""
        progress.step(f"{work.pick.record.name} seed {work.seed} x{work.factor:g}: PSNR {psnr:.3f} dB{itself}")
    return trained


def retrain(config: RetrainConfig) -> tuple[list[str], FidelityStats | None]:
    """Train this shard's unrecorded work, then the statistics (None until 3 architectures are recorded)."""
    study = open_existing_study(config.storage, config.study)
    if is_companion(config.study):
        raise InputError(f"--study: {config.study!r} is a fidelity record; name the study it came from")
    check_init_rule(study)
    picks = first_of(select(arch_records(study), config.k, config.sample_seed), config.first)
    if len(picks) < 3:
        raise InputError(f"--study: {config.study!r} has {len(picks)} finished architectures; 3 or more are needed")
    fidelity = open_companion(study)
    index, count = config.shard
    done = recorded(fidelity)
    identity = data_identity(config.data, config.val_data)  # runs on other data never answer for these
    work = plan(picks, config.budget_x, config.seeds, config.seed_start, identity)
    todo = [w for i, w in enumerate(work) if i % count == index and w.key not in done]
    lines = [f"{len(work)} runs planned ({len(picks)} architectures x {config.seeds} seeds), {len(work) - len(todo)}"
             f" recorded or another shard's; this worker trains {sum(not reusable(w) for w in todo)}"]  # fmt: skip
    if todo and not config.report_only:
        upscale = todo[0].pick.record.spec.upscale  # the data are read (and bad images refused) before any output
        data = (
            training_pictures(config.data, None, None, upscale)[0],
            ValidationSet.of(validation_images(config.val_data), upscale),
        )
        check_unseen(data[0], config.val_data)
        log.info(lines[0])
        run_work(fidelity, todo, config, data)
        done = recorded(fidelity)
    archs = gather(picks, config.budget_x, done, identity)
    if len(archs) < 3 and not config.report_only:  # another shard holds the rest
        lines.append(f"{len(archs)} architectures recorded so far: run --report-only when every shard is done")
        return lines, None
    proxy_seeds = {a.pick.record.spec_hash: a.long for a in gather(picks, 1.0, done, identity)}
    definition = definition_of(study)
    stats = fidelity_stats(archs, config.budget_x, np.random.default_rng(0), proxy_seeds)
    stats = replace(stats, rope=definition.rope if definition is not None else stats.rope)
    study.set_user_attr(keys.fidelity_summary_key(config.budget_x), stats.as_dict())
    lines += summary(stats, config.study, config.deltas)
    return lines, stats
