"""nas.analyze on synthetic study records: the ms3 space's 15 real specs with PSNRs chosen by hand.

No training: each architecture is a COMPLETE trial whose PSNR is set, so every number the
analysis prints (errors, EDFs, normalisation weights, KS distance, permutation p) can be
worked out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from nas.analysis.stats import edf
from nas.analysis.subspaces import analyse
from nas.study import keys
from nas.study.storage import storage_for
from space import analytic_cost
from space.features import compile_predicate, features
from studies import STUDIES
from studies.definitions import PAPER_SUBSPACES

BEST = 30.0


def planted_psnr(feats: dict) -> float:
    """The standard conv is best; MS 0.2-0.3 dB below, MS2 0.3-0.8 below, MS3 1.0-1.5 below (never overlapping)."""
    if feats["scales"] == 1:
        return BEST
    rank = {"none": 0, "down": 1, "up": 2, "both": 3}[feats["cross"]] + (
        0 if feats["cross_kernel"] in (None, 1) else 0.5
    )
    if feats["cross"] == "none":
        return BEST - (0.3 if feats["shared"] else 0.2)
    return BEST - (1.0 if feats["shared"] else 0.3) - 0.1 * rank


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> optuna.Study:
    url = f"sqlite:///{tmp_path_factory.mktemp('synthetic')}/s.db"
    definition = STUDIES["ms3"]
    s = optuna.create_study(
        study_name="ms3-random", storage=storage_for(url), directions=[o.direction for o in definition.objectives]
    )
    s.set_user_attr(keys.DEFINITION, "ms3")
    s.set_user_attr(keys.SAMPLER, "random")
    for _, spec in definition.space.uniform_points():
        cost = analytic_cost(spec)
        attrs = {
            keys.SPEC: spec.canonical_json,
            keys.SPEC_HASH: spec.spec_hash,
            keys.MACS_KEY: cost.macs,
            keys.PARAMS_KEY: cost.params,
        }
        psnr = planted_psnr(features(spec))
        s.add_trial(optuna.trial.create_trial(values=[psnr, cost.macs, cost.params], user_attrs=attrs))
    return s


def test_errors_are_the_planted_gaps(study: optuna.Study):
    preds = {k: compile_predicate(v) for k, v in PAPER_SUBSPACES.items()}
    analysis = analyse(study, preds, [("MS2", "MS3")], n_perm=500)
    assert analysis.best_psnr == BEST
    by_name = {s.name: s for s in analysis.subspaces}
    assert sorted(np.round(by_name["MS"].error, 6)) == [0.2, 0.3]
    # MS2: paths down/up/both x kernel 1/3, unshared: 0.3 + 0.1 * (1, 1.5, 2, 2.5, 3, 3.5)
    assert sorted(np.round(by_name["MS2"].error, 6)) == pytest.approx([0.4, 0.45, 0.5, 0.55, 0.6, 0.65])
    assert sorted(np.round(by_name["MS3"].error, 6)) == pytest.approx([1.1, 1.15, 1.2, 1.25, 1.3, 1.35])


def test_edf_and_the_test_on_separated_sub_spaces(study: optuna.Study):
    preds = {k: compile_predicate(v) for k, v in PAPER_SUBSPACES.items()}
    analysis = analyse(study, preds, [("MS2", "MS3")], n_perm=2000)
    ms2 = next(s for s in analysis.subspaces if s.name == "MS2")
    # F_MS2 at 0.5 dB: errors 0.4, 0.45, 0.5 are <= 0.5 -> 3/6
    assert edf(ms2.error, np.array([0.5]))[0] == pytest.approx(0.5)
    (comparison,) = analysis.comparisons
    assert comparison.plain.statistic == 1.0  # every MS3 error exceeds every MS2 error
    # Exact two-sided p for D = 1 with 6 vs 6: 2 of C(12, 6) = 924 labellings; the estimate is near 0.0022
    exact = 2 / math.comb(12, 6)
    assert comparison.plain.p_value < 0.01 and abs(comparison.plain.p_value - exact) < 0.004


def test_complexity_normalisation_weights_by_hand(study: optuna.Study):
    preds = {"MS": compile_predicate(PAPER_SUBSPACES["MS"]), "MS3": compile_predicate(PAPER_SUBSPACES["MS3"])}
    analysis = analyse(study, preds, [], bins=4)
    assert analysis.normalised is not None
    ms3 = analysis.subspaces[1]
    w_ms, w_ms3 = analysis.normalised.weights
    # log10-MAC bins over [16.70 G, 20.78 G] in 4 equal steps: the first ends at 16.70 * (20.78 / 16.70) ** 0.25
    # = 17.64 G. MS (16.70 G twice) is only in that bin, so only MS3's models there count: the 1x1-path ones at
    # 16.93, 16.93 and 17.16 G, 1/3 each; its 3x3-path ones (18.74, 18.74, 20.78 G) get 0.
    assert w_ms == pytest.approx([0.5, 0.5])
    expected = [1 / 3 if m < 17.64e9 else 0.0 for m in ms3.macs]
    assert sorted(round(m / 1e9, 2) for m, e in zip(ms3.macs, expected, strict=True) if e) == [16.93, 16.93, 17.16]
    assert w_ms3 == pytest.approx(expected)


def test_small_sub_spaces_are_warned_about(study: optuna.Study):
    from nas.analysis.subspaces import summary

    preds = {k: compile_predicate(v) for k, v in PAPER_SUBSPACES.items()}
    lines = summary(analyse(study, preds, [("MS", "MS3")], n_perm=100))
    warning = [line for line in lines if "warning: MS (n = 2) hold fewer than 5 architectures" in line]
    assert len(warning) == 1 and "MS2" not in warning[0]  # MS2 and MS3 hold 6 each
    # the claim in the warning: with 2 against 2 the smallest two-sided KS p-value is 2 / C(4, 2)
    assert 2 / math.comb(4, 2) > 0.3
