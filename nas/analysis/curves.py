"""The learning-curve predictors: a proxy run's validation curve extrapolated to a longer budget.

A proxy run is validated at each quarter (``val_curve``).  Two curve families, each fitted by least
squares and evaluated at the long budget T:

- ``loglin`` (predictor ``lc``): ``psnr = a + b * ln(t)`` on the curve's last ``FIT_POINTS`` points,
  with the ordinary-least-squares prediction SD (None with only two points: the line is exact);
- ``pow`` (predictor ``lc_pow``): ``psnr = c - a * t**-b``, saturating, on every point of the curve
  (``b`` on a log grid, ``a`` and ``c`` by linear least squares for each ``b``).

Which family to trust is not assumed: ``lc_select`` (``nas.analysis.predictors``) picks, for each
held-out architecture, the family with the smaller mean absolute error on the other architectures'
long-budget results, so the choice itself is measured on architectures it did not see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FIT_POINTS = 3  # the first quarter is mostly the plateau at the bicubic skip: left out
POW_EXPONENTS = np.geomspace(0.02, 4.0, 400)  # the saturating family's b, searched on this grid
FAMILIES = ("loglin", "pow")


@dataclass(frozen=True)
class Extrapolation:
    """The predicted PSNR at ``iterations`` and its SD (None when the fit leaves no residual freedom)."""

    iterations: int
    psnr: float
    sd: float | None


def _points(curve: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    points = sorted((int(t), float(p)) for t, p in curve)
    if len(points) < 2 or len({t for t, _ in points}) < 2 or min(t for t, _ in points) <= 0:
        raise ValueError(f"a learning curve needs 2 or more distinct positive iteration counts, got {curve!r}")
    return points


def extrapolate(curve: Sequence[tuple[int, float]], iterations: int, family: str = "loglin") -> Extrapolation:
    """The curve's fit in ``family`` (see the module's docstring), evaluated at ``iterations``."""
    if family == "pow":
        return extrapolate_pow(curve, iterations)
    if family != "loglin":
        raise ValueError(f"unknown curve family {family!r} (known: {', '.join(FAMILIES)})")
    points = _points(curve)[-FIT_POINTS:]
    if len({t for t, _ in points}) < 2:
        raise ValueError(f"a learning curve needs 2 or more distinct positive iteration counts, got {curve!r}")
    x = np.log([t for t, _ in points])
    y = np.array([p for _, p in points])
    slope, intercept = np.polyfit(x, y, 1)
    x0 = math.log(iterations)
    prediction = float(intercept + slope * x0)
    dof = len(points) - 2
    if dof == 0:
        return Extrapolation(iterations, prediction, None)
    residual = float(np.sum((y - (intercept + slope * x)) ** 2) / dof)
    leverage = 1 / len(points) + (x0 - x.mean()) ** 2 / float(np.sum((x - x.mean()) ** 2))
    return Extrapolation(iterations, prediction, math.sqrt(residual * (1 + leverage)))


def extrapolate_pow(curve: Sequence[tuple[int, float]], iterations: int) -> Extrapolation:
    """``c - a * t**-b`` fitted to every point (3 or more; with 2, the log-linear fit), at ``iterations``.

    No SD: with 3 or 4 points and 3 parameters the residual says little about the extrapolation."""
    points = _points(curve)
    if len(points) < 3:
        return extrapolate(points, iterations, "loglin")
    t = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points])
    best: tuple[float, float] | None = None
    for b in POW_EXPONENTS:
        basis = np.column_stack([np.ones_like(t), -(t**-b)])
        (c, a), *_ = np.linalg.lstsq(basis, y, rcond=None)
        sse = float(np.sum((basis @ np.array([c, a]) - y) ** 2))
        if best is None or sse < best[0]:
            best = (sse, float(c - a * iterations**-b))
    assert best is not None
    return Extrapolation(iterations, best[1], None)
