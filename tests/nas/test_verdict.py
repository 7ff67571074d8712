"""Decisions within a margin: the crossed seed/image model, TOST and the ROPE probabilities, what it would take."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nas.analysis.equivalence import cheapest_equivalent, equivalence_groups
from nas.analysis.verdict import (
    Margin,
    Run,
    compare,
    decide,
    fit_seed_model,
    need_of,
    probabilities,
)

# BENCHMARKS.md, "A second seed at 10x": the 7 named variants' 10x PSNR (mean over the 2 bundled photos)
SEED0 = {"standard": 30.475, "ms2-no-lh": 30.440, "ms": 30.419, "ms2": 30.436, "ms3-l": 30.405, "ms3": 30.425,
         "ms2-no-hl": 30.441}  # fmt: skip
SEED1 = {"standard": 30.454, "ms2-no-lh": 30.419, "ms": 30.414, "ms2": 30.407, "ms3-l": 30.395, "ms3": 30.391,
         "ms2-no-hl": 30.374}  # fmt: skip
HAND = Margin(rope=0.05, alpha=0.025, images="fixed")  # a 95 % two-sided interval, the validation images as given


def table_runs(shift: float = 0.0) -> list[Run]:
    return [Run(a, 10, 0, {"mean": v}) for a, v in SEED0.items()] + [
        Run(a, 10, 1, {"mean": v + shift}) for a, v in SEED1.items()
    ]


def test_the_hand_computed_10x_verdict_is_reproduced():
    """Standard above MS3 by +0.057 dB [+0.021, +0.092], residual SD 0.014 dB on 6 df (two-way fit, t intervals)."""
    v = compare("standard", "ms3", table_runs(), HAND)
    assert round(v.difference, 3) == 0.057
    assert (round(v.low, 3), round(v.high, 3)) == (0.021, 0.092)
    assert v.df == 6 and "SD 0.014 dB" in v.reason and "14 runs (6 df)" in v.reason
    assert v.decision == "open"  # beyond 0 but not beyond the 0.05 dB margin: not decided either way
    ms = compare("ms3", "ms", table_runs(), HAND)
    assert round(ms.difference, 3) == -0.008 and ms.decision == "equivalent"


def test_a_seed_shift_shared_by_every_architecture_cancels_exactly():
    plain, shifted = compare("ms2", "ms3", table_runs(), HAND), compare("ms2", "ms3", table_runs(-0.3), HAND)
    assert shifted.difference == pytest.approx(plain.difference, abs=1e-12)
    assert shifted.se == pytest.approx(plain.se, abs=1e-12)


def crossed(effects: dict[str, float], seeds: int, images: int, noise: float, rng: np.random.Generator) -> list[Run]:
    levels = rng.normal(30, 2, images)
    out = []
    for s in range(seeds):
        shift = rng.normal(0, 0.5)
        for a, mu in effects.items():
            y = mu + shift + levels + rng.normal(0, noise, images)
            out.append(Run(a, 1, s, {f"i{k}": float(x) for k, x in enumerate(y)}))
    return out


@pytest.mark.parametrize(("true", "expected"), [(0.3, "better"), (-0.3, "worse"), (0.0, "equivalent"), (0.05, "open")])
def test_with_little_noise_the_decision_follows_the_truth(true: float, expected: str):
    runs = crossed({"a": true, "b": 0.0}, seeds=4, images=20, noise=0.002, rng=np.random.default_rng(1))
    v = compare("a", "b", runs, Margin(0.05))
    assert v.decision == expected
    assert v.low < true < v.high


def test_one_seed_everywhere_leaves_the_seed_noise_unmeasured():
    runs = crossed({"a": 1.0, "b": 0.0}, seeds=1, images=20, noise=0.01, rng=np.random.default_rng(0))
    v = compare("a", "b", runs, Margin())
    assert v.decision == "open" and "seed noise is not measured" in v.reason
    assert v.difference == pytest.approx(1.0, abs=0.02) and math.isnan(v.se)
    need = need_of(v, Margin())
    assert need.trainings == 2 and need.seeds == 2  # a second seed for both


def test_one_image_is_not_a_sample_of_images():
    runs = [Run(a, 1, s, {"only": 30.0 + mu + 0.01 * s}) for s in range(3) for a, mu in (("a", 0.0), ("b", 0.5))]
    assert "1 validation image" in compare("a", "b", runs, Margin(images="random")).reason
    assert compare("a", "b", runs, Margin(images="fixed")).decision == "worse"


def test_untrained_and_unlinked_pairs_are_open_with_the_reason():
    a0, a1, b2 = Run("a", 1, 0, {"x": 1.0, "y": 2.0}), Run("a", 1, 1, {"x": 1.1, "y": 2.0}), Run("b", 1, 2, {"x": 1.0})
    runs = [a0, a1, Run("b", 1, 2, {**b2.images, "y": 2.0})]
    assert compare("a", "c", runs, Margin()).reason == "not trained at this budget yet"
    assert "no seed links the two" in compare("a", "b", runs, Margin()).reason


def test_the_random_image_model_adds_the_image_spread():
    rng = np.random.default_rng(3)
    runs = [
        Run(
            a, 1, s, {f"i{k}": 30 + mu + 0.1 * (k % 2) * (a == "a") + 0.003 * rng.normal() + 0.01 * s for k in range(8)}
        )
        for s in range(3)
        for a, mu in (("a", 0.0), ("b", 0.0))
    ]
    fixed, random = compare("a", "b", runs, Margin(images="fixed")), compare("a", "b", runs, Margin(images="random"))
    assert fixed.image_se == 0 and random.image_se > 0.01
    assert random.se > fixed.se and random.df < fixed.df + 8


def test_tost_and_the_bayesian_rope_differ_only_for_equivalence():
    p = probabilities(0.01, 0.02, 10, 0.05)
    assert sum(p) == pytest.approx(1.0)
    assert p[0] == pytest.approx(stats.t.sf((0.05 - 0.01) / 0.02, 10))
    # max(p_better, p_worse) < alpha (TOST) holds before p_equivalent > 1 - alpha (the flat-prior posterior)
    between = (0.03, 0.94, 0.03)
    assert decide(*between, Margin(rule="tost")) == "equivalent"
    assert decide(*between, Margin(rule="bayes")) == "open"
    assert decide(0.96, 0.04, 0.0, Margin(rule="bayes")) == decide(0.96, 0.04, 0.0, Margin(rule="tost")) == "better"
    assert decide(0.96, 0.04, 0.0, Margin(looks=4)) == "open"  # alpha spent over 4 looks: 0.0125 each


def test_the_verdict_read_from_the_other_side():
    v = compare("standard", "ms3", table_runs(), HAND)
    w = compare("ms3", "standard", table_runs(), HAND)
    f = v.flipped()
    assert (f.a, f.b, f.decision) == (w.a, w.b, w.decision)
    assert (f.difference, f.low, f.high) == pytest.approx((w.difference, w.low, w.high), abs=1e-12)
    assert (f.p_better, f.p_worse) == pytest.approx((w.p_better, w.p_worse), abs=1e-12)


def per_seed(differences: list[float], images: int = 40) -> list[Run]:
    """b at 30 dB on every image; a above it by one difference per seed (the seed noise), alike on every image."""
    grid = [0.0001 * k for k in range(images)]  # the images differ a little, the same for a and b
    return [
        Run(arch, 1, s, {f"i{k}": 30.0 + g + (d if arch == "a" else 0.0) for k, g in enumerate(grid)})
        for s, d in enumerate(differences)
        for arch in ("a", "b")
    ]


def test_what_it_would_take():
    v = compare("a", "b", per_seed([0.04, 0.0]), Margin())
    need = need_of(v, Margin())
    assert v.decision == "open" and need.seeds is not None and need.seeds > 2
    assert need.trainings == 2 * (need.seeds - 2)
    decided = compare("a", "b", per_seed([0.01, 0.03, 0.02, 0.02, 0.01, 0.03, 0.02, 0.02]), Margin())
    assert decided.decision == "equivalent" and need_of(decided, Margin()).trainings == 0
    swing = [0.03 + (0.5 if k % 2 else -0.5) for k in range(6)]  # a is 0.03 dB above b on average, +-0.5 by image
    wide = Run("a", 1, 0, {f"i{k}": 30 + d for k, d in enumerate(swing)})
    narrow = [Run("b", 1, s, {f"i{k}": 30.0 + 0.001 * s for k in range(6)}) for s in range(2)]
    extra = [Run("a", 1, 1, {f"i{k}": 30 + d + 0.001 for k, d in enumerate(swing)})]
    limited = compare("a", "b", [wide, *extra, *narrow], Margin())
    assert need_of(limited, Margin()).trainings is None
    assert "more images, not seeds" in need_of(limited, Margin()).text()


def test_the_seed_model_pools_every_architecture():
    model = fit_seed_model(table_runs(), ["mean"])
    assert model.df == 14 - 7 - 2 + 1 and model.residual_sd == pytest.approx(0.0144, abs=5e-4)


def test_equivalence_groups_and_the_cheapest_equivalent():
    pairs = (("ms3", "ms"), ("ms3", "ms2-no-hl"), ("ms", "ms2-no-hl"), ("ms3", "ms3-l"), ("ms", "ms3-l"))
    verdicts = [compare(a, b, table_runs(), HAND) for a, b in pairs]
    assert [v.decision for v in verdicts] == ["equivalent"] * 3 + ["equivalent", "open"]
    order = ["ms3", "ms", "ms2-no-hl", "ms3-l", "standard"]
    assert equivalence_groups(order, verdicts) == [["ms3", "ms", "ms2-no-hl"], ["ms3-l"], ["standard"]]
    costs = {"ms3": {"macs": 17.16, "params": 0.518}, "ms": {"macs": 16.70, "params": 0.817},
             "ms2-no-hl": {"macs": 18.74, "params": 1.206}, "ms3-l": {"macs": 20.78, "params": 1.594}}  # fmt: skip
    found = {c.objective: c.arch for c in cheapest_equivalent("ms3", costs, verdicts)}
    assert found == {"macs": "ms", "params": "ms3"}


def test_bad_margins_are_refused():
    for bad in ({"rope": 0.0}, {"rope": math.inf}, {"alpha": 0.7}, {"looks": 0}):
        with pytest.raises(ValueError):
            Margin(**bad)
