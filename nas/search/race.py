"""Running a race (``python -m nas.verdict``): train what decides most, record it, until the verdict stands.

The planner (``nas.analysis.race``) says which trainings decide most next; a worker claims one (the claims
table of ``nas.study.claims``: however many workers race one study, each training runs once), trains it
and records it as a COMPLETE trial of the companion study ``NAME.fidelity``, keyed like ``nas.fidelity``'s
re-trainings (architecture, exact budget, seed, data), so each command reuses what the other trained and
a killed race resumes from what was recorded.  A claimed training shows as a RUNNING trial with a heartbeat;
a worker that died leaves it to be taken over (at once on its own machine, after the grace period elsewhere).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import optuna
from optuna.trial import TrialState

from nas.analysis.race import Agreement, Policy, RaceState, Work, agreement, plan_race
from nas.analysis.verdict import DEFAULT_ALPHA, DEFAULT_ROPE, ImageModel, Margin, Run
from nas.processes import process_alive
from nas.search.compatible import check_init_rule
from nas.search.entrants import Entrant, choose, resolve_one
from nas.search.progress import in_trial_progress
from nas.search.proxy_attrs import objective_values, proxy_attrs
from nas.search.recovery import fail_abandoned_trials
from nas.search.runner import definition_named, open_study
from nas.sr.data_identity import data_identity
from nas.sr.held_out import check_unseen, validation_images
from nas.sr.pictures import training_pictures
from nas.stops import deferring, interruptible, raise_if_stopped, stop_asked
from nas.study import keys
from nas.study.claims import Claims
from nas.study.companion import data_key, open_companion, recorded, work_key
from nas.study.heartbeat import heartbeat, own_heartbeat
from nas.study.optuna_adapter import asked_trial_id, engine_of, storage_of, trial_id
from nas.study.owners import local_pid
from nas.study.records import arch_records
from nas.study.storage import DEFAULT_STORAGE, storage_for
from nas.training.loop import resolve_device
from nas.training.nested import train_nested
from nas.training.proxy import ProxyResult, ValidationSet, train_proxy
from studies import MACS, PARAMS, PSNR
from studies.budget import ProxyBudget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RaceConfig:
    """A race as plain data (the command line's flags)."""

    study: str
    storage: str = DEFAULT_STORAGE
    candidates: tuple[str, ...] = ("named",)  # named, front, all, or names / spec-hash prefixes
    rope: float | None = None  # None: the study's
    alpha: float = DEFAULT_ALPHA
    images: ImageModel = "random"
    budgets: tuple[float, ...] = (1.0, 3.0, 10.0)
    min_seeds: int = 1
    max_seeds: int = 8
    max_trainings: int | None = None
    pairs: tuple[tuple[str, str], ...] = ()  # names or hash prefixes, decided whatever their costs
    data: tuple[str, ...] = ()
    val_data: tuple[str, ...] = ()
    device: str = "auto"
    report_only: bool = False
    nested: bool = False  # WSD budgets: a target run's stable phase branches into every shorter budget's decay
    poll_seconds: float = 15.0  # the longest wait for another worker's training; the first is 1/16 of it

    def policy(self, names: Mapping[str, str], study_rope: float = DEFAULT_ROPE) -> Policy:
        """The planner's policy: alpha spent over the looks a pair can get at one budget."""
        looks = self.max_seeds - self.min_seeds + 1
        margin = Margin(study_rope if self.rope is None else self.rope, self.alpha, self.images, "tost", looks)
        pairs = tuple((resolve_one(a, names), resolve_one(b, names)) for a, b in self.pairs)
        return Policy(margin, self.budgets, self.min_seeds, self.max_seeds, self.max_trainings, pairs)


# ---- runs already recorded ----


def run_of(trial: optuna.trial.FrozenTrial, budget: float, base: ProxyBudget) -> Run | None:
    """A recorded run; its compute is a nested branch's own iterations (in proxy budgets) where it was one."""
    images = trial.user_attrs.get(keys.PER_IMAGE_PSNR)
    if not isinstance(images, dict) or not images:
        return None
    nested = trial.user_attrs.get(keys.NESTED)
    seconds = float(trial.user_attrs.get(keys.TRAIN_SECONDS, 0.0) or 0.0)
    cost = budget
    if isinstance(nested, dict):
        seconds, cost = float(nested["own_seconds"]), nested["own_iterations"] / base.iterations
    return Run(str(trial.user_attrs[keys.SPEC_HASH]), budget, int(trial.user_attrs.get(keys.SEED, 0)),
               {str(k): float(v) for k, v in images.items()}, seconds, cost)  # fmt: skip


@dataclass
class Race:
    """One worker's race: the study, its companion, the candidates, the data and the claims."""

    config: RaceConfig
    study: optuna.Study
    companion: optuna.Study
    entrants: list[Entrant]
    base: ProxyBudget
    data: dict[str, Any]
    claims: Claims | None
    study_rope: float
    train: Any = None  # the training pictures and validation set, read on first use
    val: ValidationSet | None = None
    trained: int = 0
    keys_by_work: dict[tuple[str, float, int], str] = field(default_factory=dict)

    def policy(self) -> Policy:
        return self.config.policy(self.names, self.study_rope)

    @property
    def names(self) -> dict[str, str]:
        return {e.candidate.arch: e.candidate.name for e in self.entrants}

    def key(self, arch: str, budget: float, seed: int) -> str:
        found = self.keys_by_work.get((arch, budget, seed))
        if found is None:
            found = work_key(arch, self.base.scaled(budget), seed, self.data)
            self.keys_by_work[(arch, budget, seed)] = found
        return found

    def runs(self) -> list[Run]:
        """Every recorded run of a candidate at a budget of the race, on the race's data (each once)."""
        done = recorded(self.companion)
        out: dict[tuple[str, float, int], Run] = {}
        for e in self.entrants:
            for budget in self.config.budgets:
                for seed in range(self.config.max_seeds):
                    trial = done.get(self.key(e.candidate.arch, budget, seed))
                    run = run_of(trial, budget, self.base) if trial is not None else None
                    if run is not None:
                        out[(run.arch, budget, seed)] = run
        for run in self.search_runs():
            out.setdefault((run.arch, run.budget, run.seed), run)
        return list(out.values())

    def unread_runs(self) -> int:
        """Recorded runs at seeds from ``max_seeds`` on (seeds in a row, as races train them), which ``runs`` does not
        read: alpha is spent over ``max_seeds`` looks, so a report with a lower limit than the race's says so."""
        done, count, seed = recorded(self.companion), 0, self.config.max_seeds
        while found := sum(self.key(e.candidate.arch, b, seed) in done for e in self.entrants
                           for b in self.config.budgets):  # fmt: skip
            count, seed = count + found, seed + 1
        return count

    def search_runs(self) -> list[Run]:
        """The study's own proxy runs are 1x runs of the race where the budget, data and device match."""
        if 1.0 not in self.config.budgets:
            return []
        arches = {e.candidate.arch for e in self.entrants}
        out = []
        for r in arch_records(self.study):
            same = r.attr(keys.PROXY) == self.base.as_dict() and r.attr(keys.DEVICE) == "cpu"
            if same and r.spec_hash in arches and data_key(r.attr(keys.DATA)) == data_key(self.data):
                run = run_of(r.trial, 1.0, self.base)
                if run is not None:
                    out.append(run)
        return out

    def agreements(self, runs: Sequence[Run]) -> dict[float, Agreement]:
        target = self.config.budgets[-1]
        rope = self.policy().margin.rope
        return {b: agreement(runs, b, target, rope) for b in self.config.budgets[:-1]}

    def plan(self) -> tuple[RaceState, list[Run]]:
        runs = self.runs()
        return plan_race([e.candidate for e in self.entrants], runs, self.policy(),
                         self.agreements(runs)), runs  # fmt: skip

    # ---- claiming and training ----

    def claim_name(self, work: Work) -> str:
        return hashlib.sha256(self.key(work.arch, work.budget, work.seed).encode()).hexdigest()

    def holder_state(self, number: int) -> optuna.trial.FrozenTrial | None:
        return next((t for t in self.companion.get_trials(deepcopy=False) if t.number == number), None)

    def free(self, work: Work) -> bool:
        """Whether no live worker holds the training (a holder that failed or whose worker died does not)."""
        if self.claims is None:
            return True
        holder = self.claims.holder(self.claim_name(work))
        return holder is None or self.gone(holder)

    def gone(self, holder: int) -> bool:
        """Whether the claim's holder ended without a result: FAIL, or RUNNING with its worker dead (at once on this
        machine; on another, once its heartbeat is older than the grace period).  A COMPLETE holder is not gone."""
        trial = self.holder_state(holder)
        if trial is None or trial.state == TrialState.FAIL:
            return True
        if trial.state != TrialState.RUNNING:
            return False  # COMPLETE: recorded (the next plan drops it)
        pid = local_pid(trial.user_attrs)
        if pid is not None:
            if not process_alive(pid):
                self.fail(trial.number, f"worker process {pid} on this machine ended while it trained")
                return True
            return False
        optuna.storages.fail_stale_trials(self.companion)  # another machine's: its heartbeat decides
        again = self.holder_state(holder)
        return again is not None and again.state == TrialState.FAIL

    def fail(self, number: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, ValueError, optuna.exceptions.UpdateFinishedTrialError):
            trial = self.holder_state(number)
            if trial is not None:
                storage_of(self.companion).set_trial_user_attr(trial_id(trial), keys.FAIL_REASON, reason)
            with own_heartbeat():
                self.companion.tell(number, state=TrialState.FAIL)

    def take(self, work: Work) -> optuna.trial.Trial | None:
        """A RUNNING trial that holds the claim on ``work``, or None when another worker got it first."""
        with own_heartbeat():
            trial = self.companion.ask()
        trial.set_user_attr(keys.CLAIMED_WORK, self.key(work.arch, work.budget, work.seed))
        if self.claims is None:
            return trial
        name = self.claim_name(work)
        holder = self.claims.claim(name, trial.number)
        if holder == trial.number or (self.gone(holder) and self.claims.take_over(name, holder, trial.number)):
            return trial  # a live holder (another worker claimed it a moment ago) keeps its claim
        self.fail(trial.number, f"another worker (trial {holder}) claimed the same training")
        return None

    def train_one(self, work: Work, state: RaceState) -> bool:
        """Claim and train ``work``; False when another worker holds it.  A stop or an error FAILs the claimed trial
        with its reason, which hands the claim over (``gone``), and says so in one line."""
        raise_if_stopped()
        if not self.free(work):
            return False
        trial = self.take(work)
        if trial is None:
            return False
        log.info("[%d runs recorded] %s seed %d at %gx: %s", state.spent, self.names[work.arch], work.seed,
                 work.budget, work.why)  # fmt: skip
        e = next(x for x in self.entrants if x.candidate.arch == work.arch)
        try:
            with heartbeat(storage_of(self.companion), asked_trial_id(trial)):
                results = self.trained_results(e, work)
        except BaseException as err:
            stop = stop_asked()  # a stop may come wrapped (Python makes one raised in __set_name__ a RuntimeError)
            reason = stop.reason if stop is not None else f"{err.__class__.__name__}: {err}"
            self.fail(trial.number, reason)
            log.warning("%s seed %d at %gx: not recorded (trial %d failed), %s", self.names[work.arch], work.seed,
                        work.budget, trial.number, reason)  # fmt: skip
            if stop is not None and stop is not err:
                raise stop from err
            raise
        for budget, result, nested in results:
            attrs = self.attrs(e, Work(work.arch, budget, work.seed, work.why), result) | nested
            if budget == work.budget:
                for k, v in attrs.items():
                    trial.set_user_attr(k, v)
                with own_heartbeat():
                    self.companion.tell(trial, self.values(e, result))
            elif attrs[keys.WORK_KEY] not in recorded(self.companion):  # a shorter budget's branch, on the way
                self.companion.add_trial(optuna.trial.create_trial(values=self.values(e, result), user_attrs=attrs))
        self.trained += 1
        return True

    def values(self, e: Entrant, result: ProxyResult) -> list[float]:
        return objective_values(self.companion, {PSNR.name: result.psnr, **e.candidate.costs})

    def trained_results(self, e: Entrant, work: Work) -> list[tuple[float, ProxyResult, dict[str, Any]]]:
        """(budget, result, nesting attributes) of the training ``work`` asks for: with ``--nested``, a run at the
        target budget also gives every shorter budget of the ladder (those not recorded yet)."""
        train, val = self.inputs()
        if not (self.config.nested and work.budget == self.config.budgets[-1]):
            bar, lines = in_trial_progress()
            result = train_proxy(e.spec, self.base.scaled(work.budget), train, val, seed=work.seed,
                                 device=self.config.device, progress=bar, progress_lines=lines)  # fmt: skip
            return [(work.budget, result, {})]
        by_iterations = {self.base.scaled(b).iterations: b for b in self.config.budgets}
        done = recorded(self.companion)
        ladder = [self.base.scaled(b) for b in self.config.budgets]

        def recorded_already(b: ProxyBudget) -> bool:
            return self.key(work.arch, by_iterations[b.iterations], work.seed) in done

        pairs = train_nested(e.spec, ladder, train, val, work.seed, self.config.device, skip=recorded_already)
        nested = [b.iterations for b in ladder]
        return [
            (by_iterations[branch.budget.iterations], result,
             {keys.NESTED: {"ladder": nested, "own_iterations": branch.own_iterations,
                            "own_seconds": branch.own_seconds}})
            for result, branch in pairs
        ]  # fmt: skip

    def inputs(self) -> tuple[Any, ValidationSet]:
        if self.val is None:
            with interruptible():  # reading (and cutting) the images may take long: a stop need not wait for it
                self.train, self.val = read_data(self.config, self.entrants[0].spec.upscale)
        return self.train, self.val

    def attrs(self, e: Entrant, work: Work, result: ProxyResult) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            keys.WORK_KEY: self.key(work.arch, work.budget, work.seed),
            keys.SPEC_HASH: e.candidate.arch,
            keys.SPEC: e.spec.canonical_json,
            keys.MACS_KEY: e.candidate.costs[MACS.name],
            keys.PARAMS_KEY: e.candidate.costs[PARAMS.name],
            keys.PICK_REASON: "race",
            keys.BUDGET_X: work.budget,
            **proxy_attrs(result, self.base.scaled(work.budget), work.seed),
            keys.DATA: self.data,
        }
        if e.preset:
            attrs[keys.PRESET] = e.preset
        return attrs


def read_data(config: RaceConfig, upscale: int) -> tuple[Any, ValidationSet]:
    """The training pictures and the validation set (bad or overlapping images refused here, before training)."""
    train, _ = training_pictures(config.data, None, None, upscale)
    check_unseen(train, config.val_data)
    return train, ValidationSet.of(validation_images(config.val_data), upscale)


# ---- setting up ----


def open_race(config: RaceConfig) -> Race:
    """The study (made from its definition when the storage has none), its companion, candidates and claims."""
    storage = storage_for(config.storage)
    data = data_identity(config.data, config.val_data)
    if config.study in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=config.study, storage=storage)
        check_init_rule(study)
        definition = definition_named(study.user_attrs.get(keys.DEFINITION, config.study))
    else:
        definition = definition_named(config.study)
        budget = definition.proxy_for(resolve_device(config.device).type)
        study, _ = open_study(definition, storage, 0, None, budget, data)
    stored = study.user_attrs.get(keys.STUDY_PROXY)
    base = ProxyBudget(**stored) if isinstance(stored, dict) else definition.proxy_for("cpu")
    if config.nested:
        base = replace(base, schedule="wsd")
    entrants = choose(config.candidates, definition, arch_records(study))
    engine = engine_of(storage)
    companion = open_companion(study)
    claims = None if engine is None else Claims(engine, f"{companion.study_name}#race")
    return Race(config, study, companion, entrants, base, data, claims, definition.rope)


def race(config: RaceConfig, stop_after: int | None = None) -> tuple[Race, RaceState, list[Run]]:
    """Train until the planner stops (or ``stop_after`` trainings of this worker); the final state and runs."""
    return race_until(open_race(config), stop_after)


def race_until(r: Race, stop_after: int | None) -> tuple[Race, RaceState, list[Run]]:
    """Plan, claim and train until done; a stop (``nas.stops``) interrupts only a training or a wait, so the
    claimed trial is always recorded FAIL with the stop's reason. While every next training is held by another
    worker it re-plans after 1/16 of ``poll_seconds``, doubling the wait up to it."""
    wait = r.config.poll_seconds / 16
    if not r.config.report_only:  # a killed worker's claim is failed now, not when a plan next needs its work
        for line in fail_abandoned_trials(r.companion, storage_of(r.companion)):
            log.info(f"{r.companion.study_name}: {line}")
    with deferring():
        while True:
            raise_if_stopped()
            state, runs = r.plan()
            if state.done or r.config.report_only or (stop_after is not None and r.trained >= stop_after):
                return r, state, runs
            if any(r.train_one(w, state) for w in [*state.work, *state.spare]):
                wait = r.config.poll_seconds / 16
                continue
            log.info("every next training is held by another worker; waiting %.1f s", wait)
            with interruptible():
                time.sleep(wait)
            wait = min(2 * wait, r.config.poll_seconds)  # a short training is taken up soon after it ends
