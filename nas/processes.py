"""Whether a process still runs: how a later run tells a killed worker's leftovers (RUNNING trials, staging
folders) from a live one's; and a launcher's worker that the kernel tells when the launcher dies."""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import sys
from pathlib import Path

PARENT_ENV = "MSNAS_PARENT_PID"  # set by a launcher: its worker stops when the launcher dies (nas.stops)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no process has so large an id
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(parent: Path, prefix: str) -> list[Path]:
    """Remove staging folders and temporary files ``PREFIX*.PID.*`` whose process is gone (a kill -9 mid-way);
    live ones stay.  A link there is removed itself, never what it points to."""
    removed = []
    for path in parent.glob(f"{glob.escape(prefix)}*"):
        parts = path.name.split(".")
        pid = next((int(p) for p in reversed(parts[:-1]) if p.isdigit()), None)
        if pid is None or process_alive(pid):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def die_with_parent(signum: int) -> int | None:
    """In a worker started by a launcher (``PARENT_ENV`` set): have the kernel send ``signum`` when the launcher
    dies, even by SIGKILL; the launcher's process id (None elsewhere, and off Linux, where a killed launcher
    still leaves its workers running).  ``nas.stops`` handles that signal as a stop."""
    parent = os.environ.pop(PARENT_ENV, None)  # not inherited by what this process starts
    if parent is None or not sys.platform.startswith("linux"):
        return None
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
    return int(parent)


def silence_output() -> None:
    """Point this process's stdout and stderr at /dev/null (their reader is gone)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
