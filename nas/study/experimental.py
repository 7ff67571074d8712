"""Scoped warning filters for Optuna's experimental features, which msnas uses knowingly."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import optuna


@contextlib.contextmanager
def experimental_ok() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning (heartbeats, metric names, artifacts) inside the block only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield
