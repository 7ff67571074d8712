"""Running a search: create or resume the study, queue the named variants, optimise, summarise.

Its parts each have a module: whether a stored study may take this worker's trials (``nas.search.compatible``), the
trials of workers that are gone (``nas.search.recovery``), the samplers (``nas.search.samplers``) and the summary
(``nas.search.summary``).

Examples (the command line is ``python -m nas.search``)::

    run_search(SearchConfig("tiny", storage="sqlite:///runs/tiny.db", n_trials=4))
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from backbones import INIT_RULE
from nas.errors import InputError, MsnasError
from nas.search.compatible import check_compatible
from nas.search.defaults import ETA, RUNGS
from nas.search.named import enqueue_named, outside_points, queue_on_resume
from nas.search.new_architectures import NewArchitectures
from nas.search.objective import Searcher, stop_if_asked
from nas.search.recovery import all_failed, fail_abandoned_trials, failing_own_trials
from nas.search.samplers import make_sampler
from nas.search.stopping import CurveStopper
from nas.search.summary import summary
from nas.sr.data_identity import data_identity
from nas.sr.held_out import check_unseen, validation_images
from nas.sr.patches import PatchSampler
from nas.sr.pictures import training_pictures
from nas.stops import deferring
from nas.study import keys
from nas.study.claims import Claims
from nas.study.faults import STORAGE_ERRORS
from nas.study.naming import join_names, named_points, plural, stored_name
from nas.study.optuna_adapter import engine_of
from nas.study.records import why_not
from nas.study.storage import (
    DEFAULT_STORAGE,
    artifact_dir,
    artifact_folder,
    check_storage_path,
    storage_for,
)
from nas.study.urls import public_url
from nas.training.loop import DivergenceError, resolve_device
from nas.training.proxy import ValidationSet
from studies import STUDIES, StudyDef
from studies.budget import ProxyBudget
from studies.files import study_to_data

log = logging.getLogger(__name__)

# A trial that raises these FAILs and the study goes on; a storage error included (a commit the database server
# dropped as it restarted): where the storage cannot take even the FAIL, the run ends in one line instead.
TRIAL_ERRORS = (DivergenceError, RuntimeError, ValueError, *STORAGE_ERRORS)


@dataclass(frozen=True)
class SearchConfig:
    """One worker's search, as plain data (the command line's flags)."""

    study: str
    storage: str = DEFAULT_STORAGE
    artifacts: str | None = None
    n_trials: int | None = None  # None: the study's
    timeout: float | None = None
    device: str = "auto"
    data: tuple[str, ...] = ()  # HR training folders, taken together (none: the bundled photos)
    val_data: tuple[str, ...] = ()  # HR validation folders (none: the bundled photos)
    data_workers: int = 0  # processes cutting each proxy run's crops ahead (0: in the training thread)
    seed: int = 0
    sampler_seed: int | None = None  # None: --seed; workers sharing a study need distinct ones
    sampler: str | None = None  # None: the study's
    halving: bool = False
    asha: bool = False
    stop_early: bool = False  # stop proxy runs from their learning curve (nas.search.stopping)
    eta: int = ETA
    rungs: int = RUNGS
    named_only: tuple[str, ...] | None = None  # the named variants to queue (None: all; (): none)
    zero_cost: bool = True  # zero-cost scores within the study's share of the training (False: none)

    @property
    def drawing_seed(self) -> int:
        """The sampler's seed: ``sampler_seed``, else ``seed``."""
        return self.seed if self.sampler_seed is None else self.sampler_seed

    def trainings(self, definition: StudyDef) -> int:
        """How many trainings the search runs: ``n_trials``, else the study's; InputError unless positive."""
        n_trials = self.n_trials if self.n_trials is not None else definition.n_trials
        if n_trials <= 0:
            raise InputError(f"--n-trials: must be positive, got {n_trials}")
        return n_trials


def open_study(
    definition: StudyDef,
    storage: optuna.storages.BaseStorage,
    seed: int,
    sampler_name: str | None = None,
    budget: ProxyBudget | None = None,
    data: Mapping[str, Any] | None = None,
    queue: Collection[str] | None = None,
) -> tuple[optuna.Study, bool]:
    """Create the study (queueing the named variants, those of ``queue`` when given, recording ``budget`` and the
    ``data`` identity) or load it: the same command again resumes.  The initialisation rule is written last: a
    study that has it is whole (``wait_until_whole``).

    A random study queues nothing: its trials must be an unbiased sample of the space.
    """
    chosen = sampler_name or definition.sampler
    sampler = make_sampler(definition, seed, chosen)
    name = stored_name(definition, sampler_name)
    directions = [o.direction for o in definition.objectives]
    try:
        study = optuna.create_study(study_name=name, storage=storage, directions=directions, sampler=sampler)
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler), False
    study.set_user_attr(keys.CREATION, secrets.token_hex(8))
    study.set_metric_names([o.name for o in definition.objectives])
    study.set_user_attr(keys.STUDY_DEFINITION, definition.description)
    study.set_user_attr(keys.DEFINITION, definition.name)
    study.set_user_attr(keys.DEFINITION_DATA, study_to_data(definition))
    study.set_user_attr(keys.SAMPLER, chosen)
    if chosen != "random":
        queued = enqueue_named(study, definition, queue)
        outside = [name for name in outside_points(definition) if name in queued]
        if outside:
            log.info(
                f"named point(s) outside the study's space, evaluated as extra points: {join_names(outside)}"
                " (on the front and in the report; the sampler does not learn from them)"
            )
    if budget is not None:
        study.set_user_attr(keys.STUDY_PROXY, budget.as_dict())
    if data is not None:
        study.set_user_attr(keys.STUDY_DATA, dict(data))
    study.set_user_attr(keys.INIT_RULE, INIT_RULE)  # last: the study is whole
    return study, True


def claims_name(study: optuna.Study) -> str:
    """The study's key in the claims table: its name and creation token, so that a study deleted and made again
    under the same name does not inherit the old one's claims (studies made before the token: the name)."""
    token = study.user_attrs.get(keys.CREATION)
    return f"{study.study_name}#{token}" if token else study.study_name


def definition_named(name: str | None) -> StudyDef:
    if name is None:
        raise InputError("--study: required (see --list)")
    if name not in STUDIES:
        raise InputError(f"--study: {name!r} (allowed: {', '.join(STUDIES)})")
    return STUDIES[name]


class RepeatedFailure:
    """Stops the study when ``limit`` trials in a row fail with the same reason: it would recur on every trial."""

    def __init__(self, limit: int = 3) -> None:
        self.limit, self.stopped = limit, ""
        self.reasons: list[str] = []

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state != optuna.trial.TrialState.FAIL:
            self.reasons = []
            return
        self.reasons.append(why_not(trial))
        if len(self.reasons) >= self.limit and len(set(self.reasons[-self.limit :])) == 1:
            self.stopped = f"{self.limit} trials in a row failed with: {self.reasons[-1]}"
            study.stop()


def searcher_for(config: SearchConfig, definition: StudyDef, store_dir: Path) -> Searcher:
    """The worker's data, device and artifact store (the data are checked here, before any trial)."""
    upscale = definition.space.upscale
    train, _ = training_pictures(config.data, None, None, upscale)
    val = ValidationSet.of(validation_images(config.val_data), upscale)
    check_unseen(train, config.val_data)
    device = resolve_device(config.device)
    budget = definition.proxy_for(device.type)
    PatchSampler.from_images(train, upscale, budget.patch, budget.batch, config.seed)  # every image fits a patch
    val.bicubic  # noqa: B018  (evaluates every validation image once: an unusable one fails here)
    return Searcher(
        definition,
        train,
        val,
        device,
        config.seed,
        optuna.artifacts.FileSystemArtifactStore(str(store_dir)),
        named_points(definition),
        data_workers=config.data_workers,
        data=data_identity(config.data, config.val_data),
        zero_cost=config.zero_cost,
    )


def run_search(config: SearchConfig, definition: StudyDef | None = None) -> str:
    """Search (or resume) the study; the summary to print.  Ctrl-C propagates after finished trials are saved.

    ``definition`` replaces the registered study of that name (tests run the built-in spaces on a micro budget).
    """
    definition = definition or definition_named(config.study)
    n_trials = config.trainings(definition)
    check_storage_path(config.storage)
    store_dir = artifact_dir(config.storage, config.artifacts)
    searcher = searcher_for(config, definition, store_dir)  # bad data fail here, before anything is made
    artifact_folder(config.storage, config.artifacts)
    storage = storage_for(config.storage)
    with deferring():  # a stop waits until the study is made whole (a half-made one would be refused for good)
        study, created = open_study(
            definition, storage, config.drawing_seed, config.sampler, searcher.budget, searcher.data, config.named_only
        )
    if not created:
        assert searcher.data is not None  # searcher_for records it
        check_compatible(study, definition, storage, searcher.budget, searcher.data)
        for line in fail_abandoned_trials(study, storage):
            log.info(line)
        if (config.sampler or definition.sampler) != "random":
            for line in queue_on_resume(study, definition, config.named_only):
                log.info(line)
    log.info(
        f"study {study.study_name} ({'new' if created else 'resumed'}) in {public_url(config.storage)};"
        f" artifacts in {store_dir};"
        f" {n_trials} trainings (repeats of an evaluated architecture are free) on {searcher.device}"
    )
    engine = engine_of(storage)
    if engine is not None:
        searcher = replace(searcher, claims=Claims(engine, claims_name(study)))
    guard = RepeatedFailure()
    finished = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    with failing_own_trials(study, storage):
        optimise(study, searcher, config, definition, n_trials, guard)
    if guard.stopped:
        raise MsnasError(f"study {study.study_name} stopped: {guard.stopped}")
    failed = all_failed(study, finished)
    if failed:
        raise MsnasError(f"study {study.study_name}: {failed}")
    return summary(study, config.storage, store_dir)


def optimise(
    study: optuna.Study,
    searcher: Searcher,
    config: SearchConfig,
    definition: StudyDef,
    n_trials: int,
    guard: RepeatedFailure,
) -> None:
    """Run the trials: successive halving, ASHA, or Optuna's loop (counting trainings, not repeats)."""
    if config.halving:
        from nas.search.halving import Rungs, run_halving

        run_halving(study, searcher, n_trials, Rungs(config.eta, config.rungs))
    elif config.asha:
        from nas.search.asha import run_asha
        from nas.search.halving import Rungs

        run_asha(study, searcher, n_trials, Rungs(config.eta, config.rungs))
    else:
        if config.stop_early:
            searcher = replace(searcher, stopper=CurveStopper(config.eta))
        counter = NewArchitectures(n_trials, definition, config.seed)
        study.optimize(  # n_trials=None: the counter stops the study after n_trials trainings (repeats are free)
            searcher.objective,
            n_trials=None,
            timeout=config.timeout,
            catch=TRIAL_ERRORS,
            callbacks=[counter, guard, stop_if_asked],
        )
        if counter.exhausted:
            log.info(f"stopped after {plural(counter.progress.done, 'training')}: {counter.exhausted}")


def summarize(config: SearchConfig, definition: StudyDef | None = None) -> str:
    """The summary of the stored study that workers of ``config`` searched (``nas.search --devices``)."""
    definition = definition or definition_named(config.study)
    name = stored_name(definition, config.sampler)
    study = optuna.load_study(study_name=name, storage=storage_for(config.storage))
    return summary(study, config.storage, artifact_dir(config.storage, config.artifacts))
