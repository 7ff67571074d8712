"""The learning-curve predictor ``lc``: a proxy run's validation curve extrapolated to a longer budget.

A proxy run is validated at each quarter (``val_curve``).  Over the second half of a short run
PSNR grows about linearly in log-iterations, so ``lc`` fits ``psnr = a + b * ln(t)`` by least
squares to the curve's last ``FIT_POINTS`` points and predicts ``a + b * ln(T)`` at the long budget
T, with the ordinary-least-squares prediction SD (None with only two points: the line is exact).
The family was chosen for having two parameters on three points; whether it ranks better than the
proxy PSNR itself is measured in BENCHMARKS.md once long-budget runs hold curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FIT_POINTS = 3  # the first quarter is mostly the plateau at the bicubic skip: left out


@dataclass(frozen=True)
class Extrapolation:
    """The predicted PSNR at ``iterations`` and its SD (None when the fit leaves no residual freedom)."""

    iterations: int
    psnr: float
    sd: float | None


def extrapolate(curve: Sequence[tuple[int, float]], iterations: int) -> Extrapolation:
    """The log-linear fit of the curve's last FIT_POINTS points, evaluated at ``iterations``."""
    points = sorted((int(t), float(p)) for t, p in curve)[-FIT_POINTS:]
    if len(points) < 2 or len({t for t, _ in points}) < 2 or min(t for t, _ in points) <= 0:
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
