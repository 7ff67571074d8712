"""The learning-curve predictor on curves with known answers."""

from __future__ import annotations

import math

import pytest

from nas.analysis.curves import extrapolate


def test_a_log_linear_curve_is_extrapolated_exactly():
    curve = [(t, 29.0 + 0.2 * math.log(t)) for t in (75, 150, 225, 300)]
    got = extrapolate(curve, 3000)
    assert got.psnr == pytest.approx(29.0 + 0.2 * math.log(3000)) and got.sd == pytest.approx(0.0, abs=1e-9)


def test_only_the_last_three_points_are_fitted():
    curve = [(75, 10.0)] + [(t, 30.0 + 0.1 * math.log(t / 150)) for t in (150, 225, 300)]  # the plateau is ignored
    assert extrapolate(curve, 900).psnr == pytest.approx(30.0 + 0.1 * math.log(6))


def test_the_sd_is_the_ols_prediction_sd():
    curve = [(100, 30.0), (200, 30.3), (400, 30.4)]  # x = ln t: residuals of the line through them
    got = extrapolate(curve, 800)
    x = [math.log(t) for t, _ in curve]
    y = [p for _, p in curve]
    xm, ym = sum(x) / 3, sum(y) / 3
    b = sum((a - xm) * (c - ym) for a, c in zip(x, y, strict=True)) / sum((a - xm) ** 2 for a in x)
    a = ym - b * xm
    s2 = sum((c - a - b * xi) ** 2 for xi, c in zip(x, y, strict=True)) / 1
    x0 = math.log(800)
    sd = math.sqrt(s2 * (1 + 1 / 3 + (x0 - xm) ** 2 / sum((xi - xm) ** 2 for xi in x)))
    assert got.psnr == pytest.approx(a + b * x0) and got.sd == pytest.approx(sd)


def test_two_points_give_no_sd_and_one_is_refused():
    assert extrapolate([(150, 30.0), (300, 30.1)], 900).sd is None
    with pytest.raises(ValueError, match="2 or more distinct positive iteration counts"):
        extrapolate([(300, 30.0)], 900)


def test_a_power_law_curve_is_extrapolated_by_the_pow_family():
    """c - a t^-b with b on the search grid: every point fitted exactly, the long budget predicted exactly;
    the log-linear family overshoots a saturating curve."""
    from nas.analysis.curves import POW_EXPONENTS

    b = float(POW_EXPONENTS[200])
    curve = [(t, 31.0 - 2.0 * t**-b) for t in (75, 150, 225, 300)]
    assert extrapolate(curve, 3000, "pow").psnr == pytest.approx(31.0 - 2.0 * 3000**-b, abs=1e-9)
    assert extrapolate(curve, 3000, "pow").sd is None
    assert extrapolate(curve, 3000).psnr > 31.0 - 2.0 * 3000**-b
    with pytest.raises(ValueError, match="unknown curve family 'exp'"):
        extrapolate(curve, 3000, "exp")
