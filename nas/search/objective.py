"""One search trial: cost first, then (unless over budget or already evaluated) the proxy.

Every trial's cost is known from the spec before anything is built: a trial over the study's
budget is PRUNED, never COMPLETE, so it appears on no Pareto front.  A spec already evaluated
is not trained again: the repeat copies the first trial's measurements and says whose.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.artifacts.exceptions import ArtifactNotFound

from backbones import build_model
from nas.files import plain_name
from nas.jsonvalues import finite_or_none
from nas.measure.counting import measure
from nas.measure.latency import RUNTIME, cpu_latency_ms, latency_setup
from nas.measure.zero_cost import plan_for, zero_cost_scores
from nas.search.progress import in_trial_progress
from nas.search.proxy_attrs import proxy_attrs
from nas.search.stopping import CurveStopper
from nas.search.suggest import spec_from_trial
from nas.sr.patches import PatchSampler
from nas.sr.pictures import Picture
from nas.stops import Stopped, interruptible, raise_if_stopped, stop_asked
from nas.study import keys
from nas.study.claims import Claims
from nas.study.faults import storage_fault
from nas.study.naming import trial_arch_name
from nas.study.optuna_adapter import storage_of
from nas.study.records import is_result
from nas.training.loop import set_seed
from nas.training.proxy import ProxyResult, StoppedEarly, ValidationSet, train_proxy
from space import analytic_cost, load_spec
from space.arch import ArchSpec
from studies import LATENCY, MACS, PARAMS, PSNR, StudyDef
from studies.budget import ProxyBudget

log = logging.getLogger(__name__)


@dataclass
class Searcher:
    """One worker's view of a study: the data, budget and device every trial uses."""

    definition: StudyDef
    train: tuple[Picture, ...]
    val: ValidationSet
    device: torch.device
    seed: int
    artifacts: optuna.artifacts.FileSystemArtifactStore
    names: dict[str, str]
    claims: Claims | None = None  # one trial per architecture trains it, across workers
    data_workers: int = 0  # data-loader processes per proxy run (the batches are the same with any number)
    stopper: CurveStopper | None = None  # --stop-early: a run may end at its check (nas.search.stopping)
    data: Mapping[str, Any] | None = None  # which data train and validate (nas.sr.data_identity), recorded
    zero_cost: bool = True  # False (--no-zero-cost): no zero-cost scores, whatever the study's share

    def objective(self, trial: optuna.Trial) -> tuple[float, ...]:
        """Cost first, then (unless over budget or already evaluated) the proxy; failures keep their reason.

        A stop (``nas.stops``) interrupts only the work; the trial FAILs with its reason, said in one line."""
        try:
            raise_if_stopped()  # asked between the last trial's callbacks and this one's ask
            spec, reused = self.admit(trial)
            if reused is not None:
                return reused
            self._announce(trial)
            return self.evaluate(trial, spec)
        except optuna.TrialPruned:
            raise
        except Stopped as stop:  # outside the interruptible work again: recorded whole
            raise self._record_stop(trial, stop) from None
        except Exception as err:
            if (asked := stop_asked()) is not None:  # the stop, wrapped on its way (Python makes one raised in a
                raise self._record_stop(trial, asked) from err  # class body's __set_name__ a RuntimeError)
            # a storage fault by its cause: Optuna's own words blame "invalid data"
            trial.set_user_attr(keys.FAIL_REASON, str(storage_fault(err) or f"{err.__class__.__name__}: {err}"))
            raise

    def _record_stop(self, trial: optuna.Trial, stop: Stopped) -> Stopped:
        """Record a stop as the trial's fail reason and say it in one line; the stop, for Optuna to FAIL the trial."""
        trial.set_user_attr(keys.FAIL_REASON, stop.reason)
        name = trial_arch_name(trial.number, trial.user_attrs)
        log.info(f"trial {trial.number} {name}: failed, {stop.reason}")
        return stop

    def _announce(self, trial: optuna.Trial) -> None:
        """A start line: a proxy run takes minutes on a CPU, and nothing else is printed until it ends."""
        b = self.budget
        size = f"width {b.width}" if b.width else "its own width"
        size += f", {b.blocks} blocks" if b.blocks else ", all its blocks"
        log.info(
            f"trial {trial.number} {trial_arch_name(trial.number, trial.user_attrs)} starts:"
            f" {trial.user_attrs[keys.MACS_KEY] / 1e9:.2f} G MACs; proxy {b.iterations} iterations at {size},"
            f" {b.patch}x{b.patch} LR patches, batch {b.batch}, on {self.device}"
        )

    @property
    def budget(self) -> ProxyBudget:
        """The study's proxy budget on this worker's device."""
        return self.definition.proxy_for(self.device.type)

    def admit(self, trial: optuna.Trial, pending: Container[str] = ()) -> tuple[ArchSpec, tuple[float, ...] | None]:
        """Sample the spec and record its cost; PRUNED when over budget; a repeat's earlier values.

        ``pending``: spec hashes this worker claimed and has yet to train (a halving batch); a repeat of
        one is returned untrained for the caller to reject, never waited for (it would wait for itself).
        """
        extra = trial.user_attrs.get(keys.EXTRA_SPEC)
        spec = load_spec(extra) if extra is not None else spec_from_trial(trial, self.definition.space)
        self._record_spec(trial, spec)
        cost = analytic_cost(spec)
        trial.set_user_attr(keys.MACS_KEY, cost.macs)
        trial.set_user_attr(keys.PARAMS_KEY, cost.params)
        trial.set_user_attr(keys.PARAMS_NO_BIAS, cost.params_no_bias)
        reason = self.definition.over_cost_limit(cost.macs, cost.params)
        if reason:
            trial.set_user_attr(keys.REJECTED, reason)
            raise optuna.TrialPruned(reason)
        earlier = self._evaluated(trial, spec.spec_hash)
        if earlier is None and (stopped := self._stopped(trial, spec.spec_hash)) is not None:
            trial.set_user_attr(keys.DUPLICATE_OF, stopped.number)
            raise optuna.TrialPruned(f"repeat of trial {stopped.number}, stopped at iteration "
                                     f"{stopped.user_attrs[keys.STOPPED_AT]}")  # fmt: skip
        if earlier is None and spec.spec_hash in pending:
            return spec, None
        if earlier is None and self.claims is not None:
            earlier = self._claim_or_wait(trial, spec.spec_hash, self.claims)
        if earlier is not None:
            return spec, self._reuse(trial, earlier)
        return spec, None

    def _record_spec(self, trial: optuna.Trial, spec: ArchSpec) -> None:
        trial.set_user_attr(keys.SPEC, spec.canonical_json)
        trial.set_user_attr(keys.SPEC_HASH, spec.spec_hash)
        name = self.names.get(spec.spec_hash)
        if name is not None:
            trial.set_user_attr(keys.PRESET, name)

    def _evaluated(self, trial: optuna.Trial, spec_hash: str) -> optuna.trial.FrozenTrial | None:
        done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        return next((t for t in done if is_result(t) and t.user_attrs[keys.SPEC_HASH] == spec_hash), None)

    def _stopped(self, trial: optuna.Trial, spec_hash: str) -> optuna.trial.FrozenTrial | None:
        """An earlier run of this architecture that the curve stopper ended (the same run again would end alike)."""
        pruned = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))
        return next(
            (t for t in pruned if keys.STOPPED_AT in t.user_attrs and t.user_attrs.get(keys.SPEC_HASH) == spec_hash),
            None,
        )

    def _claim_or_wait(self, trial: optuna.Trial, spec_hash: str, claims: Claims) -> optuna.trial.FrozenTrial | None:
        """None when this trial holds the claim and trains; else the holder's result, once it has one.  A
        holder that ended without a result (FAIL, its worker killed) hands the claim over."""
        said = False
        while (holder := claims.claim(spec_hash, trial.number)) != trial.number:
            if not said:
                log.info(f"trial {trial.number} waits for trial {holder}, which trains the same architecture")
                said = True
            done = _wait_for(trial.study, holder)
            if done is not None and done.state == optuna.trial.TrialState.COMPLETE and is_result(done):
                return done
            if claims.take_over(spec_hash, holder, trial.number):
                return None
        return None

    def _reuse(self, trial: optuna.Trial, earlier: optuna.trial.FrozenTrial) -> tuple[float, ...]:
        """A repeated architecture: the earlier result, without training, marked as a duplicate."""
        for key in (*keys.MEASURED, *keys.region_keys(earlier.user_attrs)):
            if key in earlier.user_attrs:
                trial.set_user_attr(key, earlier.user_attrs[key])
        trial.set_user_attr(keys.DUPLICATE_OF, earlier.number)
        self._copy_artifacts(earlier, trial)
        assert earlier.values is not None
        return tuple(earlier.values)

    def _copy_artifacts(self, earlier: optuna.trial.FrozenTrial, trial: optuna.Trial) -> None:
        """The earlier trial's files (spec, proxy curves) on the repeat too: optuna-dashboard lists a repeat that
        lies on the front among its best trials, and its page should show what the result came from.  Files kept in
        another artifact folder (an earlier run's ``--artifacts``) are not found here and are left out.

        The names come from the storage, which whoever can write the database chooses: every one is checked before
        any file is written (UnsafeName, and the trial FAILs with it), so none can steer where this worker writes."""
        metas = optuna.artifacts.get_all_artifact_meta(earlier, storage=storage_of(trial.study))
        for meta in metas:
            plain_name(meta.filename, f"trial {earlier.number}'s artifact file name")
            plain_name(meta.artifact_id, f"trial {earlier.number}'s artifact id")
        with tempfile.TemporaryDirectory() as tmp:
            for i, meta in enumerate(metas):
                folder = Path(tmp) / str(i)  # one folder each: two artifacts of one name are both copied
                folder.mkdir()
                self._copy_artifact(meta, folder / meta.filename, trial)

    def _copy_artifact(self, meta: optuna.artifacts.ArtifactMeta, path: Path, trial: optuna.Trial) -> None:
        """One artifact, downloaded to ``path`` and uploaded again as the repeat's own (a file name stays a name)."""
        try:
            optuna.artifacts.download_artifact(
                artifact_store=self.artifacts, artifact_id=meta.artifact_id, file_path=str(path)
            )
        except ArtifactNotFound:  # the earlier trial's files are in another artifact folder: none here
            return
        optuna.artifacts.upload_artifact(
            artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial, mimetype=meta.mimetype
        )

    def evaluate(self, trial: optuna.Trial, spec: ArchSpec, budget: ProxyBudget | None = None) -> tuple[float, ...]:
        """Count, train the proxy (the study's budget unless given) and record everything on the trial."""
        budget = budget or self.budget
        with interruptible():
            counts = measure(spec)
        self._score_at_init(trial, spec, budget)
        bar, lines = in_trial_progress()
        try:
            result = train_proxy(
                spec,
                budget,
                self.train,
                self.val,
                seed=self.seed,
                device=self.device.type,
                progress=bar,
                workers=self.data_workers,
                progress_lines=lines,
                keep_going=None if self.stopper is None else self.stopper.for_trial(trial, budget.iterations),
            )
        except StoppedEarly as stop:
            trial.set_user_attr(keys.STOPPED_AT, stop.iterations)
            trial.set_user_attr(keys.VAL_CURVE, [list(point) for point in stop.curve])
            trial.set_user_attr(keys.PROXY, budget.as_dict())
            trial.set_user_attr(keys.SEED, self.seed)
            self._record_data(trial)
            raise optuna.TrialPruned(str(stop)) from None
        attrs: dict[str, Any] = {
            keys.FVCORE_TOTAL: counts.fvcore_total,
            keys.PTFLOPS_TOTAL: counts.ptflops_total,
            **proxy_attrs(result, budget, self.seed),
        }
        if self.definition.latency:
            with interruptible():
                attrs[keys.LATENCY_MS] = cpu_latency_ms(spec, runtime=RUNTIME)
            attrs[keys.LATENCY_RUNTIME] = RUNTIME
            attrs[keys.LATENCY_SETUP] = latency_setup()
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        self._record_data(trial)
        self._upload(trial, spec, result)
        measured = {
            PSNR.name: result.psnr,
            MACS.name: trial.user_attrs[keys.MACS_KEY],
            PARAMS.name: trial.user_attrs[keys.PARAMS_KEY],
            LATENCY.name: attrs.get(keys.LATENCY_MS),
        }
        return tuple(float(measured[o.name]) for o in self.definition.objectives)

    def _record_data(self, trial: optuna.Trial) -> None:
        if self.data is not None:
            trial.set_user_attr(keys.DATA, dict(self.data))

    def _score_at_init(self, trial: optuna.Trial, spec: ArchSpec, budget: ProxyBudget) -> None:
        """The zero-cost scores of the full-size, untrained network on the proxy's first batch: those the study's
        share of this budget's training pays for (``plan_for``), recorded with the plan."""
        plan = plan_for(self.definition.space, budget, self.definition.zero_cost_share if self.zero_cost else 0.0)
        trial.set_user_attr(keys.ZC_PLAN, plan.as_dict())
        if not plan.names:
            return
        began = time.perf_counter()
        with interruptible():
            set_seed(self.seed)
            model = build_model(spec).to(self.device)
            sampler = PatchSampler.from_images(self.train, spec.upscale, budget.patch, budget.batch, self.seed)
            lr, hr = sampler.batch_at(0, self.device)
            scores = zero_cost_scores(model, lr, hr, plan.names)
        for name, value in scores.items():
            trial.set_user_attr(keys.zc_key(name), finite_or_none(value))
        trial.set_user_attr(keys.ZC_SECONDS, time.perf_counter() - began)

    def _upload(self, trial: optuna.Trial, spec: ArchSpec, result: ProxyResult) -> None:
        """The spec and the training curve as artifacts, so optuna-dashboard shows them with the trial."""
        with tempfile.TemporaryDirectory() as tmp:
            files = {
                "spec.json": spec.to_json(),
                "proxy.json": json.dumps(result.as_dict(), indent=1),
            }
            for name, text in files.items():
                path = Path(tmp) / name
                path.write_text(text)
                optuna.artifacts.upload_artifact(
                    artifact_store=self.artifacts,
                    file_path=str(path),
                    study_or_trial=trial,
                    mimetype="application/json",
                )


WAIT_POLL_SECONDS = 2.0  # the longest wait between looks at a claimed architecture's trial; the first is 1/8 of it


def stop_if_asked(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """A search callback: a stop that arrived while a trial was recorded ends the search before the next trial."""
    if stop_asked() is not None:
        study.stop()


def _wait_for(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial | None:
    """Trial ``number`` once finished (None: no such trial, a claim left by a deleted namesake); a holder whose
    worker died is failed by Optuna's heartbeat check here.  The looks are 1/8 of ``WAIT_POLL_SECONDS`` apart at
    first, doubling up to it: a short training is copied soon after it ends."""
    wait = WAIT_POLL_SECONDS / 8
    while True:
        found = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
        if found is None or found.state.is_finished():
            return found
        optuna.storages.fail_stale_trials(study)
        with interruptible():
            time.sleep(wait)
        wait = min(2 * wait, WAIT_POLL_SECONDS)
