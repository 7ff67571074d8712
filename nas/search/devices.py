"""One search worker per device: ``nas.search --devices cuda:0,cuda:1`` (or ``cpu,cpu``) on one storage.

Each worker is the plain ``python -m nas.search ... --device D`` process that several users could start by
hand on one SQLite file or PostgreSQL database (the storage already shares a study between workers); this
module only starts them, pins each to its device (``CUDA_VISIBLE_DEVICES`` for ``cuda:N``, a share of the
cores for ``cpu``), prints their lines as one view (each prefixed with its worker), and on Ctrl-C or SIGTERM passes the
stop to every worker and waits for them, so no trial is left RUNNING; a worker dies with its launcher,
however it dies (``nas.stops``).

Devices of different proxy budgets are refused before anything starts: a study holds one budget.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import optuna

from nas.errors import InputError, MsnasError
from nas.processes import PARENT_ENV
from nas.search.compatible import check_budget
from nas.search.progress import LAUNCHER_LINE_SECONDS, PROGRESS_LINES_ENV
from nas.stops import Stopped
from nas.study.naming import stored_name
from nas.study.storage import check_storage_path, storage_for
from studies import StudyDef

log = logging.getLogger(__name__)

DEVICE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")
STOP_SECONDS = 120  # how long a worker may take to record its interrupted trial before it is killed


@dataclass(frozen=True)
class Device:
    """A worker's device as given (``cpu``, ``cuda``, ``cuda:N``) and its label in the combined view."""

    kind: str
    index: int | None
    label: str


def parse_devices(text: str) -> list[Device]:
    """``cpu,cpu`` or ``cuda:0,cuda:1``: one worker each; a bad item raises InputError naming it."""
    items = [item.strip() for item in text.split(",")]
    devices = []
    for k, item in enumerate(items):
        match = DEVICE.match(item)
        if match is None:
            raise InputError(f"--devices: {item!r} is not a device (allowed: cpu, cuda, cuda:N; comma-separated)")
        index = None if match[2] is None else int(match[2])
        devices.append(Device(match[1], index, f"w{k} {item}"))
    return devices


def check_one_budget(definition: StudyDef, devices: Sequence[Device], storage: str, sampler: str | None) -> None:
    """Refuse devices that would train with different proxy budgets, or with another than the stored study's."""
    budgets = {d.kind: definition.proxy_for(d.kind) for d in devices}
    if len(set(budgets.values())) > 1:
        cpu, gpu = budgets["cpu"].as_dict(), budgets["cuda"].as_dict()
        diff = ", ".join(f"{k} {cpu[k]!r} on cpu, {gpu[k]!r} on cuda" for k in cpu if cpu[k] != gpu[k])
        raise InputError(
            f"--devices: the cpu and cuda workers of study {definition.name!r} would train with different proxy"
            f" budgets ({diff}): their PSNRs are not comparable on one front; give devices of one kind"
        )
    check_storage_path(storage)
    store = storage_for(storage)
    name = stored_name(definition, sampler)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:  # not made yet: the workers make it
        return
    check_budget(study, next(iter(budgets.values())))


def worker_env(device: Device, cpu_workers: int) -> dict[str, str]:
    """The environment pinning a worker: its GPU alone visible, or its share of the cores."""
    env = dict(os.environ)
    env[PARENT_ENV] = str(os.getpid())
    if sys.stderr.isatty():  # the relay passes whole lines: the workers print progress lines, not a bar
        env.setdefault(PROGRESS_LINES_ENV, str(LAUNCHER_LINE_SECONDS))
    if device.kind == "cuda":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        index = device.index or 0
        ids = visible.split(",") if visible else None
        env["CUDA_VISIBLE_DEVICES"] = ids[index] if ids and index < len(ids) else str(index)
    elif "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // cpu_workers))
    return env


def relay(label: str, stream: IO[bytes], lock: threading.Lock) -> None:
    """Log a worker's stderr lines, each prefixed with the worker (the combined progress view)."""
    for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n").split("\r")[-1]  # a progress bar's last state
        with lock:
            log.info(f"[{label}] {line}")


def run_workers(argvs: Sequence[Sequence[str]], devices: Sequence[Device]) -> list[int]:
    """Start ``python -m nas.search ARGV --device D`` for each device (its own ARGV) and wait; their exit codes.

    A stop (Ctrl-C or SIGTERM, :mod:`nas.stops`) is passed on to every worker as the same signal; each records
    its running trial as failed and exits, then the stop is raised here.  Workers run in their own session, so a
    terminal's Ctrl-C reaches them once, through this process; if this process dies, however (even by SIGKILL),
    the kernel stops them (``PARENT_ENV``).
    """
    cpu_workers = sum(d.kind == "cpu" for d in devices)
    lock = threading.Lock()
    procs: list[subprocess.Popen[bytes]] = []
    relays: list[threading.Thread] = []
    try:
        for d, args in zip(devices, argvs, strict=True):
            device = "cuda" if d.kind == "cuda" else "cpu"
            proc = subprocess.Popen(
                [sys.executable, "-m", "nas.search", *args, "--device", device],
                env=worker_env(d, cpu_workers),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # its summary: this process prints the study's once, at the end
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            procs.append(proc)
            assert proc.stderr is not None
            relays.append(threading.Thread(target=relay, args=(d.label, proc.stderr, lock), daemon=True))
            relays[-1].start()
        codes = [proc.wait() for proc in procs]
    except KeyboardInterrupt as err:
        stop(procs, err.signum if isinstance(err, Stopped) else signal.SIGINT)
        raise
    finally:
        for thread in relays:
            thread.join(timeout=5)
    return codes


def stop(procs: Sequence[subprocess.Popen[bytes]], signum: int) -> None:
    """``signum`` (SIGINT or SIGTERM) to every live worker, then wait for each (killed after ``STOP_SECONDS``)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signum)
    for proc in procs:
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def failed_workers(devices: Sequence[Device], codes: Sequence[int]) -> None:
    """Raise when a worker did not finish well, naming it and its exit code (its own line was shown above)."""
    bad = [f"{d.label} (exit {c})" for d, c in zip(devices, codes, strict=True) if c != 0]
    if bad:
        raise MsnasError(f"worker(s) {', '.join(bad)} did not finish; their last lines are above")
