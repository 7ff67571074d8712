"""Samplers that give unbiased samples of a design space (for EDFs), not an optimiser's biased ones.

Optuna's ``RandomSampler`` draws each suggested dimension uniformly, so in a
define-by-run space a branch with few later choices is over-sampled (the ``ms3``
space draws the one-scale standard conv half the time).  Design-space statistics
need each *architecture* equally likely: :class:`UniformPointSampler` draws the
distinct architectures of a finite space uniformly, without replacement until
every one has been drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.search_space import intersection_search_space
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from nas.search.suggest import params_for
from nas.study import keys
from space.choices import SpaceDef
from studies import StudyDef

MAX_ENUMERATED = 100_000  # above this a space is sampled dimension by dimension


def distinct_points(space: SpaceDef) -> list[tuple[str, dict[str, Any]]]:
    """(spec_hash, trial params) for every distinct architecture of a uniform (not layer-wise) space."""
    seen: dict[str, dict[str, Any]] = {}
    for choice, spec in space.uniform_points():
        if spec.spec_hash not in seen:
            seen[spec.spec_hash] = params_for(space, choice)
        if len(seen) > MAX_ENUMERATED:
            raise ValueError(f"more than {MAX_ENUMERATED} architectures: too many to enumerate")
    return list(seen.items())


class UniformPointSampler(optuna.samplers.BaseSampler):
    """Each trial is an architecture drawn uniformly from those the study has not yet drawn.

    Once every architecture has been drawn, draws are uniform with replacement (a repeat is
    recognised by the search and not trained again).  Several workers may draw the same
    point if they start at the same moment; the analysis counts each architecture once.
    """

    def __init__(self, points: Sequence[tuple[str, dict[str, Any]]], seed: int | None = None) -> None:
        if not points:
            raise ValueError("UniformPointSampler: the space has no points")
        self._points = list(points)
        self._rng = np.random.default_rng(seed)
        self._fallback = optuna.samplers.RandomSampler(seed=seed)
        self._chosen: dict[int, dict[str, Any]] = {}

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        drawn = _drawn(study)
        fresh = [p for _, p in self._points if _key(p) not in drawn]
        pool = fresh or [p for _, p in self._points]
        self._chosen[trial.number] = pool[int(self._rng.integers(len(pool)))]

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        point = self._chosen.get(trial.number, {})
        if param_name in point:
            return point[param_name]
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: optuna.trial.TrialState, values: Sequence[float] | None
    ) -> None:
        self._chosen.pop(trial.number, None)


def _drawn(study: Study) -> set[tuple[tuple[str, str], ...]]:
    """The points of trials that hold (or are about to hold) one: every trial but failures."""
    states = tuple(s for s in optuna.trial.TrialState if s != optuna.trial.TrialState.FAIL)
    return {_key(t.params) for t in study.get_trials(deepcopy=False, states=states) if t.params}


def _key(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def is_extra_point(trial: FrozenTrial) -> bool:
    """A named point outside the study's space, evaluated beside the search: it has no params."""
    return keys.EXTRA_SPEC in trial.user_attrs


def drawn_space(study: Study, include_pruned: bool) -> dict[str, BaseDistribution]:
    """The intersection search space of the trials a sampler drew (extra points left out: with no params they would
    empty it), without single-valued dimensions, as NSGA-II and multivariate TPE infer it themselves."""
    states = (TrialState.COMPLETE, TrialState.PRUNED) if include_pruned else (TrialState.COMPLETE,)
    drawn = [t for t in study.get_trials(deepcopy=False, states=states) if not is_extra_point(t)]
    return {n: d for n, d in intersection_search_space(drawn, include_pruned).items() if not d.single()}


class NSGAIISampler(optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II, blind to extra points: they join no generation (a parent with no params has no genes).

    Keep the class name: Optuna keys a trial's generation by it, so studies made with Optuna's own class resume.
    """

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {} if is_extra_point(trial) else drawn_space(study, include_pruned=False)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {} if is_extra_point(trial) else super().sample_relative(study, trial, search_space)


class TPESampler(optuna.samplers.TPESampler):
    """Optuna's multivariate TPE, whose joint search space ignores extra points (it skips them when fitting)."""

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {} if is_extra_point(trial) else drawn_space(study, include_pruned=True)


def random_sampler(space: SpaceDef, seed: int) -> optuna.samplers.BaseSampler:
    """Uniform over architectures where the space can be enumerated; per-dimension uniform otherwise."""
    if space.layerwise:
        return optuna.samplers.RandomSampler(seed=seed)
    try:
        return UniformPointSampler(distinct_points(space), seed=seed)
    except ValueError:
        return optuna.samplers.RandomSampler(seed=seed)


def make_sampler(definition: StudyDef, seed: int, name: str | None = None) -> optuna.samplers.BaseSampler:
    """The sampler a study asks for (``name`` overrides it): random over the distinct points, TPE or NSGA-II."""
    name = name or definition.sampler
    if name == "random":
        return random_sampler(definition.space, seed)
    if name == "tpe":
        return TPESampler(seed=seed, multivariate=True)
    return NSGAIISampler(seed=seed, population_size=min(20, max(4, definition.n_trials // 2)))
