"""Predictors of the long-budget PSNR, scored side by side (``fidelity.json``'s ``predictors`` block).

Each predictor gives one number per architecture from what a study records, and a cost in seconds per
architecture; it is scored by Kendall tau and Spearman rho (bootstrap intervals) against the
long-budget mean, over the architectures that have it:

- ``proxy``: the proxy run's PSNR (seed of the trial); costs the proxy run's ``train_seconds``.
- ``proxy_2seed``: the mean of seeds 0 and 1 at the proxy budget (``nas.fidelity --budget-x 1 --seeds 2``).
- ``lc``, ``lc_pow``: the proxy's validation curve extrapolated to the long budget in the log-linear and
  the saturating power family (``nas.analysis.curves``); the same run as ``proxy``, so the same cost.
- ``lc_select``: per held-out architecture, the family with the smaller mean absolute error on the other
  architectures' long results (leave-one-out: the choice never sees the architecture it predicts).
- ``zc_<name>``: each zero-cost score at initialisation; its cost is the recorded time of all of them.
- ``params``, ``macs``: counted, not trained; cost 0.
- ``ridge_loo``: a ridge regression on every predictor above that covers all architectures (standardised),
  fitted without the architecture it predicts (leave-one-out), so its score is out of sample; its cost
  is that of the runs its inputs need, each counted once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.analysis.curves import FAMILIES, extrapolate
from nas.analysis.proxy_stats import Correlations, rank_correlations
from nas.jsonvalues import finite_or_none
from nas.study import keys
from nas.study.records import ArchRecord

RIDGE_ALPHA = 1.0  # on standardised inputs: shrinks towards the mean with ~n/10 to n/20 architectures
RIDGE = "ridge_loo"
LC_NAMES = {"loglin": "lc", "pow": "lc_pow"}  # curve family -> predictor name
LC_SELECT = "lc_select"
EARLY = "early_"  # + iteration: the curve's PSNR at that point (early_predictors)


@dataclass(frozen=True)
class Predictor:
    """Values by architecture index (only those that have one), and what producing one costs."""

    values: dict[int, float]
    seconds: float  # median over the architectures
    run: str  # which run produces it ("proxy", "zero_cost", "seeds", "count"); runs are paid once


@dataclass(frozen=True)
class PredictorScore:
    correlations: Correlations
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        c = self.correlations
        return {
            "kendall": c.kendall_tau,
            "kendall_ci": [finite_or_none(c.tau_low), finite_or_none(c.tau_high)],  # null: too few for an interval
            "spearman": c.spearman_rho,
            "spearman_ci": [finite_or_none(c.rho_low), finite_or_none(c.rho_high)],
            "n": c.n,
            "seconds": self.seconds,
        }


def _median_seconds(records: Sequence[ArchRecord], key: str) -> float:
    found = [float(r.attr(key)) for r in records if isinstance(r.attr(key), int | float)]
    return float(np.median(found)) if found else float("nan")


def _finite(values: dict[int, float]) -> dict[int, float]:
    return {i: v for i, v in values.items() if math.isfinite(v)}


def recorded_predictors(
    records: Sequence[ArchRecord], long_iterations: Sequence[int], proxy_seeds: Mapping[str, Mapping[int, float]]
) -> dict[str, Predictor]:
    """Every predictor the records allow; ``proxy_seeds`` maps spec hash -> {seed: PSNR at the proxy budget}."""
    train = _median_seconds(records, keys.TRAIN_SECONDS)
    out = {"proxy": Predictor({i: r.psnr for i, r in enumerate(records)}, train, "proxy")}
    two = {}
    for i, r in enumerate(records):
        seeds = {**proxy_seeds.get(r.spec_hash, {}), r.seed: r.psnr}
        if 0 in seeds and 1 in seeds:
            two[i] = (seeds[0] + seeds[1]) / 2
    if two:
        out["proxy_2seed"] = Predictor(two, 2 * train, "seeds")
    for family in FAMILIES:
        lc = {}
        for i, (r, long) in enumerate(zip(records, long_iterations, strict=True)):
            curve = r.attr(keys.VAL_CURVE)
            if isinstance(curve, list) and len(curve) >= 2:
                lc[i] = extrapolate([(int(t), float(p)) for t, p in curve], long, family).psnr
        if lc:
            out[LC_NAMES[family]] = Predictor(lc, train, "proxy")
    out.update(early_predictors(records, train))
    zc_seconds = _median_seconds(records, keys.ZC_SECONDS)
    for key in sorted({k for r in records for k in keys.zc_keys(r.trial.user_attrs)}):
        got = {i: float(r.attr(key)) for i, r in enumerate(records) if isinstance(r.attr(key), int | float)}
        out[key] = Predictor(_finite(got), zc_seconds, "zero_cost")
    out["params"] = Predictor({i: r.params for i, r in enumerate(records)}, 0.0, "count")
    out["macs"] = Predictor({i: r.macs for i, r in enumerate(records)}, 0.0, "count")
    return out


def early_predictors(records: Sequence[ArchRecord], train_seconds: float) -> dict[str, Predictor]:
    """``early_<t>``: the PSNR a proxy run showed at iteration ``t`` of its curve, before its last point.

    What stopping a run at ``t`` (a rung, or a learning-curve stopper) would rank by; it costs ``t / T`` of a run.
    """
    at: dict[int, dict[int, float]] = {}
    for i, r in enumerate(records):
        curve = r.attr(keys.VAL_CURVE)
        if not isinstance(curve, list) or len(curve) < 2:
            continue
        points = sorted((int(t), float(psnr)) for t, psnr in curve)
        for t, psnr in points[:-1]:
            at.setdefault(t, {})[i] = psnr
    final = max((int(t) for r in records if isinstance(c := r.attr(keys.VAL_CURVE), list) for t, _ in c), default=0)
    return {
        f"{EARLY}{t}": Predictor(_finite(values), train_seconds * t / final, "proxy")
        for t, values in sorted(at.items())
    }


def ridge_loo(predictors: Mapping[str, Predictor], target: Sequence[float]) -> Predictor | None:
    """Leave-one-out predictions of a ridge regression on every complete, non-constant predictor."""
    n = len(target)
    inputs = {
        name: p
        for name, p in predictors.items()
        if len(p.values) == n
        and np.ptp(list(p.values.values())) > 0
        and name not in (RIDGE, LC_SELECT)
        and not name.startswith(EARLY)  # the final PSNR's collinear forerunners: they would only add variance
    }
    if n < 5 or not inputs:
        return None
    x = np.array([[_feature(name, p.values[i]) for name, p in inputs.items()] for i in range(n)])
    y = np.asarray(target, dtype=float)
    out = {}
    for held in range(n):
        keep = np.arange(n) != held
        mean, sd = x[keep].mean(axis=0), x[keep].std(axis=0)
        sd[sd == 0] = 1.0
        z = (x[keep] - mean) / sd
        weights = np.linalg.solve(z.T @ z + RIDGE_ALPHA * np.eye(z.shape[1]), z.T @ (y[keep] - y[keep].mean()))
        out[held] = float(y[keep].mean() + ((x[held] - mean) / sd) @ weights)
    runs = {p.run: p.seconds for p in inputs.values()}
    return Predictor(out, float(sum(s for s in runs.values() if math.isfinite(s))), "combined")


def lc_select(predictors: Mapping[str, Predictor], target: Sequence[float]) -> Predictor | None:
    """For each architecture, the curve family with the smaller mean absolute error on the others; None with
    fewer than 3 architectures that every family covers."""
    families = [predictors[name] for name in LC_NAMES.values() if name in predictors]
    if not families:
        return None
    common = sorted(set.intersection(*(set(f.values) for f in families)))
    if len(common) < 3:
        return None
    out = {}
    for held in common:
        others = [i for i in common if i != held]
        errors = [float(np.mean([abs(f.values[i] - target[i]) for i in others])) for f in families]
        out[held] = families[int(np.argmin(errors))].values[held]
    return Predictor(out, families[0].seconds, "proxy")


def lc_errors(predictors: Mapping[str, Predictor], target: Sequence[float]) -> dict[str, float]:
    """Each curve predictor's mean absolute error (dB) against the long-budget result."""
    return {
        name: float(np.mean([abs(v - target[i]) for i, v in p.values.items()]))
        for name, p in predictors.items()
        if (name in LC_NAMES.values() or name == LC_SELECT) and p.values
    }


def _feature(name: str, value: float) -> float:
    """Counts enter the regression on a log scale (their rank is all that matters elsewhere)."""
    return math.log(value) if name in ("params", "macs") and value > 0 else value


def score_predictors(
    predictors: Mapping[str, Predictor], target: Sequence[float], rng: np.random.Generator
) -> dict[str, PredictorScore]:
    """Each predictor's rank agreement with ``target`` over the architectures it covers (3 or more, not constant)."""
    out = {}
    for name, p in predictors.items():
        idx = sorted(p.values)
        if len(idx) < 3:
            continue
        x, y = [p.values[i] for i in idx], [target[i] for i in idx]
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        out[name] = PredictorScore(rank_correlations(x, y, rng=rng), p.seconds)
    return out


def predictor_lines(scores: Mapping[str, PredictorScore]) -> list[str]:
    """The predictor table, best Spearman first."""
    lines = [f"  {'predictor':<13} {'Kendall tau':>24} {'Spearman rho':>25} {'n':>3} {'s/arch':>8}"]
    for name, s in sorted(scores.items(), key=lambda kv: -kv[1].correlations.spearman_rho):
        c = s.correlations
        lines.append(
            f"  {name:<13} {c.kendall_tau:+.2f} {c.interval_text(c.tau_low, c.tau_high)}     "
            f"{c.spearman_rho:+.2f} {c.interval_text(c.rho_low, c.rho_high)}  {c.n:>3} {s.seconds:8.1f}"
        )
    return lines
