"""Whether a process still runs: how a later run tells a killed worker's leftovers (RUNNING trials, staging
folders) from a live one's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(parent: Path, prefix: str) -> list[Path]:
    """Remove staging folders ``PREFIX*.PID.*`` whose process is gone (a kill -9 mid-way); live ones stay."""
    removed = []
    for path in parent.glob(f"{prefix}*"):
        parts = path.name.split(".")
        pid = next((int(p) for p in reversed(parts[:-1]) if p.isdigit()), None)
        if path.is_dir() and pid is not None and not process_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
