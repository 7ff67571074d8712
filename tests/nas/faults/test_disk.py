"""The storage's disk filled mid-trial and read-only when a search starts (a tmpfs of the test's own)."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from nas.study import keys
from tests.nas.faults.fleet import (
    DEADLINE,
    KILLS,
    NAMED,
    ROUNDS,
    Fault,
    Fleet,
    check_invariants,
    complete_values,
    in_a_trial,
    one_line_error,
    report,
    rounds,
    search_round,
)
from tests.nas.test_storage_faults import FULL, READ_ONLY, leftovers

pytestmark = pytest.mark.slow
# The tiny study's trials at its own 12 iterations last about half a second on a quiet machine: one worker's three
# could end between two looks of a loaded test process for a RUNNING trial (seen once, 2026-12-07: the disk never
# filled). Three times as long (about a second each), a trial cannot slip between looks.
LONGER_TRIALS = ("--proxy", "iterations=40")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own (mounting needs root); skipped where none can be mounted."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = shutil.which("mount")
    made = mount and subprocess.run([mount, "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True)
    if not made or made.returncode != 0:
        pytest.skip("no tmpfs can be mounted here (root only): tests/nas/test_storage_faults.py has SQLite's own")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def fill_the_disk(disk: Path) -> Fault:
    """A fault that fills ``disk`` during a trial: the worker ends in one line, exit 2; the disk is freed and the
    worker started again."""

    def fault(fleet: Fleet, url: str, rng: random.Random) -> bool:
        proc = in_a_trial(fleet, url, rng)
        if proc is None:
            return False
        filler = fill(disk)
        try:
            code = proc.wait(timeout=DEADLINE)
        finally:
            filler.unlink()
        fleet.killed.append(proc.pid)
        assert code == 2, fleet.tail(proc)
        one_line_error(fleet.logs[proc.pid], f"nas.search: error: {FULL}")
        fleet.start()
        return True

    return fault


def fill(disk: Path) -> Path:
    """A file that takes every free byte of ``disk``."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        while True:
            os.write(fd, bytes(1 << 16))
    except OSError as err:
        assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return filler


def test_storage_disk_filled(fleets: list[Fleet], tmp_path: Path, disk: Path) -> None:
    began, fills, trials = time.monotonic(), 0, 0
    for r, folder in rounds(tmp_path):
        url = f"sqlite:///{disk}/study{r}.db"
        landed, n = search_round(fleets, folder, url, 1, seed=500 + r, fault=fill_the_disk(disk), n_trials=3,
                                 extra=LONGER_TRIALS)  # fmt: skip
        fills, trials = fills + landed, trials + n
        assert leftovers(disk) == [] and not (disk / "filler").exists()
    assert fills >= ROUNDS, "the disk never filled during a trial"
    report("storage on a full tmpfs", fills, ROUNDS, trials, time.monotonic() - began, "fills")


def remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True, capture_output=True)


def test_storage_read_only(fleets: list[Fleet], tmp_path: Path, disk: Path) -> None:
    """Between runs (a mount with a file open for writing cannot go read-only): a search on the read-only disk
    ends in one line, exit 2, the file unchanged; writable again, the next run goes on."""
    began, refused, trials = time.monotonic(), 0, 0
    for r, folder in rounds(tmp_path):
        db = disk / f"study{r}.db"
        reader = f"sqlite:///file:{db}?mode=ro&uri=true"  # this test's own reads keep nothing open for writing
        argv = ["nas.search", "--study", "tiny", "--storage", f"sqlite:///{db}", "--n-trials", "2", "--seed", "0",
                "--artifacts", str(folder / "artifacts")]  # fmt: skip
        fleet = Fleet(argv, folder)
        fleets.append(fleet)
        fleet.start()
        fleet.finish()
        kept: dict[int, list[float]] = {}
        for _ in range(KILLS):
            kept.update(complete_values(reader))
            before = hashlib.sha256(db.read_bytes()).hexdigest()
            remount(disk, "ro")
            try:
                proc = fleet.start()
                assert proc.wait(timeout=DEADLINE) == 2, fleet.tail(proc)
            finally:
                remount(disk, "rw")
            fleet.killed.append(proc.pid)
            one_line_error(fleet.logs[proc.pid], f"nas.search: error: {READ_ONLY}")
            assert hashlib.sha256(db.read_bytes()).hexdigest() == before
            refused += 1
            fleet.start()  # writable again: goes on
            fleet.finish()
        study = check_invariants(reader, kept)
        done = {t.user_attrs.get(keys.PRESET) for t in study.get_trials(states=(TrialState.COMPLETE,))}
        assert done >= NAMED, f"named variants not COMPLETE in the end: {NAMED - done}"
        assert leftovers(disk) == []
        trials += len(study.trials)
    report("storage on a read-only tmpfs", refused, ROUNDS, trials, time.monotonic() - began, "read-only starts")
