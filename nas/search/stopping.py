"""Stopping from the learning curve (``nas.search --stop-early``): one run per candidate, cut where it ranks out.

Successive halving retrains each rung from scratch with a shorter schedule, and at a third of the
CPU proxy every architecture still sits on the bicubic plateau (BENCHMARKS.md, "Plain vs MO-ASHA vs
curve stopping").  Inside one full-length run, though, the validation curve already ranks the architectures
like the run's end at its midpoint (BENCHMARKS.md, "Every predictor against 10x").  So each candidate trains on
the proxy's own schedule; at the check (the first validation at or after 1/eta of the run) it
records its PSNR there on its trial (``curve_at_<t>``, visible to every worker) and goes on only if
it ranks among the first ceil(n / eta) of the n runs that reached the check, by the MO-ASHA order
(``nas.analysis.promotion``) on (-PSNR at the check, MACs, params).  A stopped run is PRUNED with
``stopped_at`` and its curve; it cost that fraction of a run, and counts as a training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import optuna

from nas.analysis.promotion import goes_on
from nas.search.defaults import ETA
from nas.stops import deferring
from nas.study import keys
from nas.training.proxy import curve_stops


@dataclass(frozen=True)
class CurveStopper:
    eta: int = ETA

    def check_at(self, iterations: int) -> int | None:
        """The validation the decision is taken at: the first at or after 1/eta of the run, not its end."""
        early = [t for t in curve_stops(iterations)[:-1] if t * self.eta >= iterations]
        return early[0] if early else None

    def for_trial(self, trial: optuna.Trial, iterations: int) -> Callable[[int, float], bool] | None:
        """``keep_going`` for this trial's proxy run (None when the run has no validation to stop at)."""
        check = self.check_at(iterations)
        if check is None:
            return None

        def keep_going(at: int, psnr: float) -> bool:
            if at != check:
                return True
            with deferring():  # called inside the training: a stop waits for this write (nas.stops)
                trial.set_user_attr(keys.curve_at_key(check), psnr)
            reached = [
                t
                for t in trial.study.get_trials(deepcopy=False)
                if isinstance(t.user_attrs.get(keys.curve_at_key(check)), float)
            ]
            losses = [
                (-t.user_attrs[keys.curve_at_key(check)], t.user_attrs[keys.MACS_KEY], t.user_attrs[keys.PARAMS_KEY])
                for t in reached
            ]
            index = next(i for i, t in enumerate(reached) if t.number == trial.number)
            return goes_on(losses, index, self.eta)

        return keep_going
