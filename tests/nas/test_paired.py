"""Paired per-image differences between architectures, checked against hand-computed intervals."""

from __future__ import annotations

import pytest
from optuna.trial import create_trial

from nas.analysis.paired import against_best, lines, paired_difference
from nas.study import keys
from nas.study.records import records_of
from studies import BASE_OBJECTIVES

A = {"x": 30.0, "y": 31.0, "z": 32.0}
B = {"x": 29.5, "y": 30.7, "z": 31.3}  # differences 0.5, 0.3, 0.7: mean 0.5, SD 0.2


def test_the_interval_is_students_t_over_images():
    d = paired_difference(A, B, ("a", "b"))
    half = 4.302653 * 0.2 / 3**0.5  # t(0.975, 2 dof) * SD / sqrt(n)
    assert d.mean == pytest.approx(0.5) and d.n_images == 3
    assert (d.low, d.high) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-6)
    assert d.resolved  # [0.003, 0.997]


def test_seed_noise_widens_it():
    d = paired_difference(A, B, ("a", "b"), seed_sd=0.1)
    half = 4.302653 * (0.04 / 3 + 0.01 * 2) ** 0.5
    assert (d.low, d.high) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-6)
    assert not d.resolved
    averaged = paired_difference(A, B, seed_sd=0.1, runs=(4, 4))
    assert averaged.high - averaged.low < d.high - d.low


def test_only_the_images_in_common_count_and_one_is_too_few():
    assert paired_difference({**A, "w": 99.0}, B).n_images == 3
    with pytest.raises(ValueError, match="1 validation images in common"):
        paired_difference({"x": 1.0}, {"x": 2.0, "y": 1.0})


def record_trial(spec_hash: str, images: dict[str, float] | None, seed: int = 0, preset: str | None = None):
    psnr = sum(images.values()) / len(images) if images else 30.0
    attrs = {keys.SPEC_HASH: spec_hash, keys.SEED: seed, keys.PSNR_KEY: psnr}
    if images is not None:
        attrs[keys.PER_IMAGE_PSNR] = images
    if preset:
        attrs[keys.PRESET] = preset
    return create_trial(values=[psnr, 1e9, 1e6], user_attrs=attrs)


def test_every_architecture_against_the_best_of_the_same_seed():
    trials = [
        record_trial("aaaa", A, preset="standard"),
        record_trial("bbbb", B),
        record_trial("cccc", {"x": 29.0, "y": 30.0, "z": 31.0}, seed=1),  # another seed: not paired
        record_trial("dddd", None),  # recorded before per-image PSNR: left out
    ]
    for number, t in enumerate(trials):
        t.number = number
    records = records_of(trials, BASE_OBJECTIVES)
    (d,) = against_best(records)
    assert (d.a, d.b) == ("bbbb", "standard") and d.mean == pytest.approx(-0.5)
    text = lines([d])
    assert text[0].startswith("paired per-image differences against standard (same seed, 3 validation images")
    # [-0.997, -0.003]: below 0, but not beyond the 0.05 dB margin
    assert "bbbb" in text[1] and "-0.500 dB" in text[1] and text[1].endswith("not decided")
    assert "one seed: the seed noise is not in it; ROPE +-0.05 dB" in text[0]
    assert lines([d], rope=0.002)[1].endswith("worse by more than 0.002 dB")
