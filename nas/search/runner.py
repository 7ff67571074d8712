"""Running a search: create or resume the study, queue the named variants, optimise, summarise.

Examples (the command line is ``python -m nas.search``)::

    run_search(SearchConfig("tiny", storage="sqlite:///runs/tiny.db", n_trials=4))
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from backbones import INIT_RULE
from nas.analysis.fronts import front
from nas.errors import InputError, MsnasError, StorageFault
from nas.processes import process_alive
from nas.search.budget import NewArchitectures
from nas.search.defaults import ETA, RUNGS
from nas.search.named import enqueue_named, outside_points, queue_on_resume
from nas.search.objective import Searcher, stop_if_asked
from nas.search.samplers import NSGAIISampler, TPESampler, random_sampler
from nas.search.stopping import CurveStopper
from nas.sr.data import (
    PatchSampler,
    check_unseen,
    data_identity,
    describe_data,
    training_pictures,
    validation_images,
)
from nas.stops import Stopped, deferring
from nas.study import keys
from nas.study.claims import Claims
from nas.study.companion import data_key
from nas.study.faults import STORAGE_ERRORS, storage_fault
from nas.study.naming import join_names, named_points, plural, stored_name, trial_arch_name
from nas.study.objectives import names as objective_names
from nas.study.optuna_adapter import engine_of, trial_id
from nas.study.records import arch_records, why_not
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
from space import load_spec
from studies import STUDIES, StudyDef
from studies.budget import ProxyBudget
from studies.files import study_from_data, study_to_data

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


def fail_dead_local_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Fail at once the RUNNING trials whose worker ran on this machine and is gone (kill -9, a crash);
    trials of other machines are left to Optuna's heartbeat.  Returns their numbers."""
    here = socket.gethostname()

    def dead(pid: int) -> str | None:
        return None if process_alive(pid) else f"worker process {pid} on {here} ended while the trial was running"

    return fail_local_trials(study, storage, dead)


def fail_local_trials(
    study: optuna.Study, storage: optuna.storages.BaseStorage, reason_for: Callable[[int], str | None]
) -> list[int]:
    """Fail the RUNNING trials of this machine's processes for which ``reason_for(pid)`` gives a reason."""
    here, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid = t.user_attrs.get(keys.WORKER_PID)
        if t.user_attrs.get(keys.WORKER_HOST) != here or not isinstance(pid, int):
            continue
        reason = reason_for(pid)
        if reason is None:
            continue
        try:
            with suppress(*STORAGE_ERRORS):  # a full disk may take the FAIL but not its reason
                storage.set_trial_user_attr(trial_id(t), keys.FAIL_REASON, reason)
            with warnings.catch_warnings():  # Optuna notes that tell() on a heartbeat storage bypasses optimize()
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except (RuntimeError, ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # another worker restarting on this machine failed it first
        failed.append(t.number)
    return failed


@contextmanager
def failing_own_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> Iterator[None]:
    """A storage or disk fault that ends the search FAILs this process's RUNNING trial with its cause, where the
    storage takes it again (a server back after a dropped commit; otherwise the next run fails the trial), and
    ends the run with one line naming the cause: trials finished before it are saved.

    A stop (Ctrl-C, SIGTERM, the launcher's death) is deferred to the work inside (``nas.stops``), so each trial
    is told FAIL with its reason; trials still RUNNING after it (a halving batch) are FAILed with it here."""
    try:
        with deferring():
            yield
    except Stopped as stop:
        reason = stop.reason
        with suppress(*STORAGE_ERRORS):
            failed = fail_local_trials(study, storage, lambda pid: reason if pid == os.getpid() else None)
            if failed:
                log.info(f"{reason}: trials {failed} failed, they had not finished")
        raise
    except Exception as err:
        fault = storage_fault(err)
        if fault is None:
            raise
        with suppress(*STORAGE_ERRORS):
            fail_local_trials(study, storage, lambda pid: str(fault) if pid == os.getpid() else None)
        raise StorageFault(f"{fault}; the trials finished before it are saved: run the same command to go on") from None


def claims_name(study: optuna.Study) -> str:
    """The study's key in the claims table: its name and creation token, so that a study deleted and made again
    under the same name does not inherit the old one's claims (studies made before the token: the name)."""
    token = study.user_attrs.get(keys.CREATION)
    return f"{study.study_name}#{token}" if token else study.study_name


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose heartbeat stopped (a worker killed before it recorded its PID, or on
    another machine) before named variants are re-queued, rather than inside ``optimize`` after it."""
    before = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
    if not before:
        return []
    optuna.storages.fail_stale_trials(study)
    after = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
    return sorted(before - after)


def check_is_this_study(
    study: optuna.Study, definition: StudyDef, storage: optuna.storages.BaseStorage, wait: float = 2.0
) -> None:
    """Refuse a stored study of the same name that this definition did not make (other objectives,
    directions or definition): searching it would mix its trials with ours or optimise the wrong way.

    Metric names and attributes are written just after creation, so a worker that loads a study
    another worker is still creating waits ``wait`` seconds for them once.
    """
    want = [(o.name, o.direction) for o in definition.objectives]
    directions = [d.name.lower() for d in study.directions]
    if directions != [d for _, d in want]:
        raise InputError(
            f"--study: {study.study_name!r} in the storage has directions {directions}, not this study's "
            f"{[d for _, d in want]}: it was not made by nas.search --study {definition.name} (use another storage)"
        )
    if study.metric_names is None or keys.DEFINITION not in study.user_attrs:
        time.sleep(wait)
        study = optuna.load_study(study_name=study.study_name, storage=storage)
    made_by = study.user_attrs.get(keys.DEFINITION)
    if study.metric_names != [n for n, _ in want] or made_by != definition.name:
        raise InputError(
            f"--study: {study.study_name!r} in the storage was not made by nas.search --study {definition.name} "
            f"(objectives {study.metric_names}, definition {made_by!r}): use another storage or study"
        )
    stored = normalised(study.user_attrs.get(keys.DEFINITION_DATA))
    mine = study_to_data(definition)
    if isinstance(stored, dict) and {**stored, "description": ""} != {**mine, "description": ""}:  # words aside
        raise InputError(
            f"--study: {study.study_name!r} in the storage was made from another definition of {definition.name!r}"
            f" ({first_difference(stored, mine)}): use the file and flags it was made with, another storage, or"
            " --study-name NEW to search this definition as a new study"
        )


def normalised(stored: Any) -> Any:
    """A stored definition with the fields added since it was stored at their defaults (as this version reads
    it), so that a new field with its default does not make every older study another definition."""
    if not isinstance(stored, dict):
        return stored
    try:
        return study_to_data(study_from_data(stored))
    except ValueError:  # not readable by this version: compared as stored, so the refusal names the field
        return stored


def short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_difference(stored: Mapping[str, Any], mine: Mapping[str, Any], prefix: str = "") -> str:
    """The first field where two definitions differ, as ``field stored X here Y``."""
    for key in sorted(set(stored) | set(mine)):
        a, b = stored.get(key), mine.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found = first_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key} stored {short(a)}, here {short(b)}"
    return ""


def check_budget(study: optuna.Study, budget: ProxyBudget) -> None:
    """Refuse to add trials of another proxy budget (another device's, or a changed definition's) to a study:
    their PSNRs are not comparable, and a repeat would be answered with the other budget's result."""
    want = budget.as_dict()
    stored = study.user_attrs.get(keys.STUDY_PROXY)
    if stored is None:  # made before the budget was stored: the budget its trials recorded
        trained = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        stored = next((t.user_attrs[keys.PROXY] for t in trained if keys.PROXY in t.user_attrs), want)
    if stored != want:
        diff = ", ".join(f"{k} {stored.get(k)!r} here {want[k]!r}" for k in want if stored.get(k) != want[k])
        raise InputError(
            f"--study: {study.study_name!r} was trained with another proxy budget ({diff}): its PSNRs are not"
            " comparable with this worker's; use another storage, or --study-name NEW for a new study"
        )


def check_data(study: optuna.Study, data: Mapping[str, Any]) -> None:
    """Refuse to add trials trained or validated on other data than the study's (recorded at creation; studies
    made before: the bundled photos): their PSNRs are not comparable, and a repeat would be answered with the
    other data's result."""
    stored = study.user_attrs.get(keys.STUDY_DATA)
    if data_key(stored) != data_key(data):
        made = describe_data(stored) if stored else "the bundled photos: it was made before data were recorded"
        raise InputError(
            f"--study: {study.study_name!r} was made with other data ({made}; here {describe_data(data)}): its"
            " PSNRs are not comparable with this worker's; give the same --data and --val-data (in the same order),"
            " or use another storage or study name"
        )


def make_sampler(definition: StudyDef, seed: int, name: str | None = None) -> optuna.samplers.BaseSampler:
    name = name or definition.sampler
    if name == "random":
        return random_sampler(definition.space, seed)
    if name == "tpe":
        return TPESampler(seed=seed, multivariate=True)
    return NSGAIISampler(seed=seed, population_size=min(20, max(4, definition.n_trials // 2)))


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


WHOLE_WAIT_SECONDS = 15.0  # how long a worker waits for a study another worker is still creating


def wait_until_whole(study: optuna.Study) -> None:
    """Another worker may have created the study a moment ago and still be writing its attributes (the
    initialisation rule comes last): wait for it, so the checks read a whole study.  A study made before
    the rule was recorded never gets it; the wait ends and ``check_init_rule`` refuses it."""
    deadline = time.monotonic() + WHOLE_WAIT_SECONDS
    while keys.INIT_RULE not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.2)


def check_init_rule(study: optuna.Study) -> None:
    """Refuse a study trained under another weight-initialisation rule: its PSNRs are not comparable with
    the trials this version would add (BENCHMARKS.md, "Unit initialisation")."""
    recorded = study.user_attrs.get(keys.INIT_RULE)
    if recorded != INIT_RULE:
        made = f"the {recorded!r} rule" if recorded else "an older rule"
        raise InputError(
            f"--study: {study.study_name!r} was trained with {made} for initialising multi-scale units, this "
            f"version uses {INIT_RULE!r}: new trials would not be comparable; search it under a new --storage"
        )


def check_hashes(study: optuna.Study) -> None:
    """Refuse a study whose recorded spec hashes are not this version's (they were computed by an older rule)."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if keys.SPEC in t.user_attrs and keys.SPEC_HASH in t.user_attrs:
            now = load_spec(str(t.user_attrs[keys.SPEC])).spec_hash
            if now != t.user_attrs[keys.SPEC_HASH]:
                raise InputError(
                    f"--study: {study.study_name!r} was recorded with an older spec hash (trial {t.number}: "
                    f"{t.user_attrs[keys.SPEC_HASH]}, now {now}); its repeats may hold another network's "
                    "results: search it under a new --storage"
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
        wait_until_whole(study)
        check_is_this_study(study, definition, storage)
        check_budget(study, searcher.budget)
        assert searcher.data is not None  # searcher_for records it
        check_data(study, searcher.data)
        check_hashes(study)
        check_init_rule(study)
        dead = fail_dead_local_trials(study, storage)
        if dead:
            log.info(f"failed at once, their worker on this machine is gone: trials {dead}")
        stale = fail_stale_trials(study)
        if stale:
            log.info(f"failed, no heartbeat within the grace period: trials {stale}")
        if (config.sampler or definition.sampler) != "random":
            for line in queue_on_resume(study, definition, config.named_only):
                log.info(line)
    log.info(
        f"study {study.study_name} ({'new' if created else 'resumed'}) in {public_url(config.storage)};"
        f" artifacts in {store_dir};"
        f" {n_trials} trainings (repeats of an evaluated architecture are free) on {searcher.device}"
    )
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is one line of ours, not a traceback
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


def all_failed(study: optuna.Study, finished: Collection[int]) -> str:
    """Why every trial this process finished, other than those ``finished`` before, FAILED ("" when one did not, or
    none finished): a run that produced nothing must not end as if it had."""
    here, me = socket.gethostname(), os.getpid()
    mine = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.number not in finished
        and t.state.is_finished()
        and t.user_attrs.get(keys.WORKER_HOST) == here
        and t.user_attrs.get(keys.WORKER_PID) == me
    ]
    if not mine or any(t.state != optuna.trial.TrialState.FAIL for t in mine):
        return ""
    reasons = list(dict.fromkeys(why_not(t) for t in mine))
    more = f" (and {plural(len(reasons) - 1, 'other reason')})" if len(reasons) > 1 else ""
    which = "the one trial" if len(mine) == 1 else f"all {len(mine)} trials"
    return f"{which} of this run failed, the last with: {why_not(mine[-1])}{more}"


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


def summary(study: optuna.Study, storage: str, store_dir: Path) -> str:
    """Counts by state and the Pareto front on every objective, one architecture per line."""
    states = [t.state.name for t in study.trials]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states)))
    records = arch_records(study)
    on_front = front(records)
    objectives = records[0].objectives if records else ()
    lines = [
        f"{study.study_name}: {plural(len(states), 'trial')} ({counts}), "
        f"{plural(len(records), 'distinct architecture')} evaluated; "
        f"Pareto front ({objective_names(objectives)}):"
    ]
    for r in sorted(on_front, key=lambda r: (r.macs, r.number)):
        extra = "".join(f"  {o.name} {r.value(o):.3g}" for o in objectives[3:])
        lines.append(
            f"  trial {r.number:>3} {r.preset or '':<10} PSNR {r.psnr:.3f} dB  {r.macs / 1e9:6.2f} G MACs  "
            f"{r.params / 1e6:.3f} M params{extra}  [{r.spec_hash}]"
        )
    waiting = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    if waiting:
        names = join_names(trial_arch_name(t.number, t.user_attrs) for t in waiting)
        lines.append(f"{plural(len(waiting), 'queued trial')} still WAITING ({names}): run the same command to go on")
    below = [r.name for r in records if not r.learned]
    if below:
        lines.append(f"WARNING: {len(below)} of {len(records)} architectures score at or below bicubic "
                     f"({join_names(below)}): the proxy does not separate them")  # fmt: skip
    storage = public_url(storage)
    lines += [
        "next:" if "***" not in storage else "next (with the storage's password in place of ***):",
        f"  python -m nas.dashboard --storage {storage} --artifacts {store_dir}",
        f"  python -m nas.report --study {study.study_name} --storage {storage} --out report.html",
        f"  python -m nas.export --study {study.study_name} --storage {storage} --knee --out export/",
    ]
    return "\n".join(lines)
