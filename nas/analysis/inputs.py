"""Input checks shared by the statistics: bad input fails at the call, naming the argument, not deep in numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def finite_vector(x: npt.ArrayLike, name: str) -> Array:
    """A non-empty, finite 1-D float64 copy of ``x``; bad input fails here, not deep in numpy."""
    arr = np.array(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def interval_quantiles(level: float) -> tuple[float, float]:
    """Lower and upper percentile quantiles of a central ``level`` interval."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return (1 - level) / 2, (1 + level) / 2


def resample_count(n: int, name: str) -> int:
    """A positive resample count."""
    if n < 1:
        raise ValueError(f"{name} must be at least 1, got {n}")
    return n
