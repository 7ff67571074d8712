"""A RUNNING trial names its machine and process from the commit that makes it RUNNING.

Optuna makes a trial RUNNING (``ask``: a new trial, or a queued one popped) before the objective can record
anything, and its first heartbeat follows in another thread.  A worker killed in between left a trial that named
no process and had no heartbeat: no later run could tell it was dead (Optuna counts only trials with a heartbeat
as stale), and it stayed RUNNING for good.  The storage (``nas.study.optuna_adapter.OwnedTrialsStorage``) writes
the owner in the same transaction as the state.

A machine is its name and its kernel's boot id: machines made from one image may share a name ("vm"), and a
process id on one of them says nothing about a process on another, or on the same one after a reboot.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nas.study import keys

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux; elsewhere the machine's name alone tells it


@functools.cache
def boot_id() -> str:
    """This kernel's boot id ("" where the system gives none)."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def owner() -> dict[str, str | int]:
    """This process, as a RUNNING trial records it (``nas.search.recovery`` fails its trials once it is gone)."""
    return {keys.WORKER_HOST: socket.gethostname(), keys.WORKER_BOOT: boot_id(), keys.WORKER_PID: os.getpid()}


def local_pid(attrs: Mapping[str, Any]) -> int | None:
    """The id of the process that recorded ``attrs`` (a trial's user attributes) when it ran on this machine
    since its last boot, so that whether it runs can be asked here; None for another machine's (its heartbeat
    decides).  A record without a boot id (before msnas kept one) is judged by the machine's name alone."""
    pid = attrs.get(keys.WORKER_PID)
    if attrs.get(keys.WORKER_HOST) != socket.gethostname() or not isinstance(pid, int):
        return None
    return pid if attrs.get(keys.WORKER_BOOT, boot_id()) == boot_id() else None
