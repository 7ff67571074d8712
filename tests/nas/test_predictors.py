"""Predictors of the long-budget PSNR on synthetic records, against hand-computed values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from optuna.trial import create_trial

from nas.analysis.predictors import predictor_lines, recorded_predictors, ridge_loo, score_predictors
from nas.study import keys
from nas.study.records import records_of
from studies import BASE_OBJECTIVES


def records(rows: list[dict[str, Any]]):
    """One record per row: psnr, macs, params and any extra user attributes."""
    trials = []
    for number, row in enumerate(rows):
        attrs = {keys.SPEC_HASH: f"{number:016x}", keys.SEED: 0, keys.TRAIN_SECONDS: 80.0 + number}
        attrs.update(row.get("attrs", {}))
        t = create_trial(values=[row["psnr"], row["macs"], row["params"]], user_attrs=attrs)
        t.number = number
        trials.append(t)
    return records_of(trials, BASE_OBJECTIVES)


ROWS: list[dict[str, Any]] = [
    {"psnr": 30.0, "macs": 4e9, "params": 3e5, "attrs": {"zc_snip": 5.0, keys.ZC_SECONDS: 2.0,
                                                         keys.VAL_CURVE: [[75, 29.0], [150, 29.5], [300, 30.0]]}},
    {"psnr": 30.2, "macs": 3e9, "params": 2e5, "attrs": {"zc_snip": 1.0, keys.ZC_SECONDS: 4.0,
                                                         keys.VAL_CURVE: [[150, 29.9], [300, 30.2]]}},
    {"psnr": 29.9, "macs": 2e9, "params": 1e5, "attrs": {"zc_snip": 3.0, keys.ZC_SECONDS: 3.0}},
    {"psnr": 30.4, "macs": 1e9, "params": 4e5},
]  # fmt: skip


def test_each_predictor_takes_its_recorded_value_and_cost():
    recs = records(ROWS)
    found = recorded_predictors(recs, [3000] * 4, {recs[0].spec_hash: {1: 30.4}, recs[2].spec_hash: {0: 0.0}})
    assert found["proxy"].values == {0: 30.0, 1: 30.2, 2: 29.9, 3: 30.4}
    assert found["proxy"].seconds == 81.5  # median of 80, 81, 82, 83
    assert found["proxy_2seed"].values == {0: pytest.approx(30.2)}  # the trial's own seed wins over a re-run
    assert found["proxy_2seed"].seconds == 163.0
    # log-linear through (ln 75, 29), (ln 150, 29.5), (ln 300, 30): 0.5 dB per doubling; 3000 = 300 * 10
    assert found["lc"].values[0] == pytest.approx(30.0 + 0.5 * math.log2(10))
    assert found["lc"].values[1] == pytest.approx(30.2 + 0.3 * math.log2(10))
    assert set(found["lc"].values) == {0, 1}
    assert found["zc_snip"].values == {0: 5.0, 1: 1.0, 2: 3.0} and found["zc_snip"].seconds == 3.0
    # the curves' points before their last: what a run stopped there shows, at that share of a run's seconds
    assert found["early_75"].values == {0: 29.0} and found["early_75"].seconds == pytest.approx(81.5 / 4)
    assert found["early_150"].values == {0: 29.5, 1: 29.9} and found["early_150"].seconds == pytest.approx(81.5 / 2)
    assert "early_300" not in found
    assert found["macs"].values[3] == 1e9 and found["params"].seconds == 0.0


def test_scores_cover_only_the_architectures_that_have_the_predictor():
    recs = records(ROWS)
    found = recorded_predictors(recs, [3000] * 4, {})
    target = [30.5, 30.6, 30.4, 30.9]  # same order as the proxy: tau = rho = 1
    scores = score_predictors(found, target, np.random.default_rng(0))
    assert scores["proxy"].correlations.kendall_tau == pytest.approx(1.0)
    assert scores["proxy"].correlations.n == 4
    # zc_snip on architectures 0..2: 5, 1, 3 against 30.5, 30.6, 30.4 -> ranks (3,1,2) vs (2,3,1): tau = -1/3
    assert scores["zc_snip"].correlations.kendall_tau == pytest.approx(-1 / 3)
    assert scores["zc_snip"].correlations.n == 3
    assert "lc" not in scores  # two architectures are too few for a rank correlation
    # MACs fall 4, 3, 2, 1 G: concordant with the target only in pairs (0, 2) and (1, 2): (2 - 4) / 6
    assert scores["macs"].correlations.kendall_tau == pytest.approx(-1 / 3)
    d = scores["proxy"].as_dict()
    assert set(d) == {"kendall", "kendall_ci", "spearman", "spearman_ci", "n", "seconds"}
    assert predictor_lines(scores)[1].split()[0] == "proxy"  # best Spearman first


def test_ridge_predicts_each_architecture_without_it():
    x = np.arange(8.0)
    rows = [{"psnr": 30 + 0.1 * v, "macs": 1e9 * (8 - v), "params": 1e5 * (1 + v % 3)} for v in x]
    recs = records(rows)
    found = recorded_predictors(recs, [3000] * 8, {})
    target = list(31 + 0.2 * x)  # exactly linear in the proxy
    combined = ridge_loo(found, target)
    assert combined is not None and set(combined.values) == set(range(8))
    # out of sample and shrunk, but still in order: each prediction lies between its neighbours'
    predictions = [combined.values[i] for i in range(8)]
    assert predictions == sorted(predictions)
    assert combined.seconds == pytest.approx(float(np.median([80.0 + i for i in range(8)])))  # one proxy run
    # refitting by hand without architecture 0 gives the same prediction
    keep = x[1:]
    feats = np.column_stack([30 + 0.1 * keep, np.log(1e5 * (1 + keep % 3)), np.log(1e9 * (8 - keep))])
    mean, sd = feats.mean(axis=0), feats.std(axis=0)
    z = (feats - mean) / sd
    y = 31 + 0.2 * keep
    w = np.linalg.solve(z.T @ z + np.eye(3), z.T @ (y - y.mean()))
    held = (np.array([30.0, math.log(1e5), math.log(8e9)]) - mean) / sd
    assert combined.values[0] == pytest.approx(y.mean() + held @ w)


def test_too_few_architectures_give_no_combination():
    recs = records(ROWS)
    assert ridge_loo(recorded_predictors(recs, [3000] * 4, {}), [1.0, 2.0, 3.0, 4.0]) is None


def test_lc_select_picks_per_held_out_architecture_the_family_better_on_the_others():
    from nas.analysis.predictors import LC_NAMES, Predictor, lc_errors, lc_select

    target = [30.0, 30.1, 30.2, 30.3]
    # loglin is off by 0.1 everywhere; pow is exact except on architecture 3, where it is off by 1.0
    loglin = Predictor({i: t + 0.1 for i, t in enumerate(target)}, 5.0, "proxy")
    pow_ = Predictor({0: 30.0, 1: 30.1, 2: 30.2, 3: 31.3}, 5.0, "proxy")
    found = {LC_NAMES["loglin"]: loglin, LC_NAMES["pow"]: pow_}
    chosen = lc_select(found, target)
    # holding out 0, 1 or 2, pow's error on the others is 1/3 > 0.1: loglin; holding out 3, pow is exact on the rest
    assert chosen is not None and chosen.values == pytest.approx({0: 30.1, 1: 30.2, 2: 30.3, 3: 31.3})
    errors = lc_errors({**found, "lc_select": chosen}, target)
    assert errors["lc"] == pytest.approx(0.1) and errors["lc_pow"] == pytest.approx(0.25)
    assert errors["lc_select"] == pytest.approx((0.1 * 3 + 1.0) / 4)
    assert lc_select({"lc": Predictor({0: 1.0, 1: 2.0}, 0.0, "proxy")}, target) is None  # too few
