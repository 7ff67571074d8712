"""--n-trials counts architectures trained, not trials: a repeat or a draw over the cost limit costs nothing.

NSGA-II on a small space draws the same few architectures again and again (the default ``ms3``
run once trained 12 of its 15 architectures in 40 trials).  ``--n-trials N`` therefore means N
proxy trainings: a repeat (answered from storage) and a draw over the MACs/params limit are
printed but not counted.  When the sampler keeps drawing nothing new, a finite space is
enumerated and an unevaluated architecture is queued (in an order fixed by the seed); when every
architecture within budget is evaluated, the run stops and says so.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import optuna

from nas.analysis.fronts import front
from nas.search.progress import Progress
from nas.search.suggest import params_for
from nas.study import keys
from nas.study.naming import trial_arch_name
from nas.study.objectives import objectives_of
from nas.study.records import ArchRecord, arch_records, why_not
from space import analytic_cost
from space.arch import ArchSpec
from studies import StudyDef

STUCK_AFTER = 5  # draws in a row that train nothing before an unevaluated architecture is queued
GIVE_UP_AFTER = 200  # ...and before a space too large to enumerate is declared exhausted for this sampler


def trained(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the trial spent a proxy training (a result, a failure or a run stopped from its learning curve),
    i.e. counts against ``--n-trials``."""
    if trial.state == optuna.trial.TrialState.FAIL:
        return True
    if trial.state == optuna.trial.TrialState.PRUNED:
        return keys.STOPPED_AT in trial.user_attrs
    return trial.state == optuna.trial.TrialState.COMPLETE and keys.DUPLICATE_OF not in trial.user_attrs


def space_points(definition: StudyDef) -> Iterator[tuple[dict[str, object], ArchSpec]] | None:
    """Every (trial params, spec) of a space with one unit for all layers; None for a layer-wise space
    (16 blocks of independent choices: far too many to list, and repeats there are rare)."""
    space = definition.space
    if space.layerwise:
        return None
    return ((params_for(space, choice), spec) for choice, spec in space.uniform_points())


def unevaluated(study: optuna.Study, definition: StudyDef, seed: int) -> list[dict[str, object]] | None:
    """Trial params of the space's architectures within budget that no trial holds yet, shuffled by the seed;
    None when the space cannot be listed."""
    points = space_points(definition)
    if points is None:
        return None
    seen = {t.user_attrs.get(keys.SPEC_HASH) for t in study.get_trials(deepcopy=False)}
    todo: dict[str, dict[str, object]] = {}
    for params, spec in points:
        if spec.spec_hash in seen or spec.spec_hash in todo:
            continue
        cost = analytic_cost(spec)
        if not definition.over_cost_limit(cost.macs, cost.params):
            todo[spec.spec_hash] = params
    order = sorted(todo)
    random.Random(seed).shuffle(order)
    return [todo[h] for h in order]


class NewArchitectures:
    """The search's per-trial callback: prints each trial, counts the trainings, and stops at ``total``.

    After ``STUCK_AFTER`` draws in a row that trained nothing it queues an unevaluated architecture of
    the space; when none is left (or a space too large to list gave ``GIVE_UP_AFTER`` such draws) it
    stops the study and says why in ``exhausted``.
    """

    def __init__(self, total: int, definition: StudyDef, seed: int) -> None:
        self.progress = Progress(total)
        self.total, self.definition, self.seed = total, definition, seed
        self.idle, self.exhausted = 0, ""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        line = f"trial {trial.number} {trial_arch_name(trial.number, trial.user_attrs)}: {self._detail(study, trial)}"
        line += f"; front {len(front(arch_records(study)))}"
        if trained(trial):
            self.idle = 0
            self.progress.step(line)
        else:
            self.idle += 1
            self.progress.say(f"[not counted] {line}")
        if self.progress.done >= self.total:
            study.stop()
        elif self.idle and not _queued(study):
            self._queue_or_stop(study)

    def _detail(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str:
        if trial.state != optuna.trial.TrialState.COMPLETE or trial.values is None:
            return why_not(trial)
        done = ArchRecord(trial, objectives_of(study))
        detail = f"PSNR {done.psnr:.3f} dB, {done.macs / 1e9:.2f} G MACs{below_bicubic(done)}"
        if keys.DUPLICATE_OF in trial.user_attrs:
            detail += f" (repeat of trial {trial.user_attrs[keys.DUPLICATE_OF]}, not retrained)"
        return detail

    def _queue_or_stop(self, study: optuna.Study) -> None:
        """Stop when the space has nothing left to train; queue an unevaluated point when the sampler is stuck."""
        todo = unevaluated(study, self.definition, self.seed + len(study.trials))
        if todo == []:
            self.exhausted = "every architecture of the space within the study's budget is evaluated"
            study.stop()
        elif todo is not None and self.idle >= STUCK_AFTER:
            study.enqueue_trial(todo[0], user_attrs={keys.QUEUED: True})
            self.progress.say(f"the sampler drew {self.idle} known architectures in a row: queued an unevaluated one "
                              f"({len(todo)} left in the space)")  # fmt: skip
            self.idle = 0
        elif todo is None and self.idle >= GIVE_UP_AFTER:
            self.exhausted = f"the sampler drew {self.idle} known or over-budget architectures in a row"
            study.stop()


def _queued(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))


def below_bicubic(record: ArchRecord) -> str:
    """A warning when the proxy scored at or below bicubic upsampling: then it ranks noise, not designs."""
    if record.learned or record.gain is None:
        return ""
    return f"; WARNING: {record.gain:+.3f} dB vs bicubic, the proxy learned nothing"
