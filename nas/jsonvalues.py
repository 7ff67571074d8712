"""Numbers as JSON can hold them: JSON has no NaN or infinity, so those are written as null.

Outside the layers of ``nas`` (it imports nothing of msnas or torch), so every layer that writes JSON
or Optuna user attributes uses this one rule.
"""

from __future__ import annotations

import math


def finite_or_none(x: float) -> float | None:
    """``x``, or None where JSON has no number for it (inf, nan)."""
    return x if math.isfinite(x) else None
