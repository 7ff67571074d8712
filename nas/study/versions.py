"""Library versions recorded with every result, read without importing the libraries."""

from __future__ import annotations

import platform
from importlib import metadata


def library_versions(*extra: str) -> dict[str, str]:
    """Python's version and each installed distribution's (torch and optuna, plus ``extra``)."""
    out = {"python": platform.python_version()}
    for name in ("torch", "optuna", *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
