"""What every test folder shares: a fixture's files built once per test run, even when pytest-xdist runs the
tests in several worker processes (``make test`` does)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nas.cli import terminal_output
from tests.warm import Server, shared


@pytest.fixture(autouse=True)
def library_lines_on_stderr() -> Iterator[None]:
    """What the library logs reaches stderr as a command shows it (``nas.cli.run_cli``), so a test of a library
    function reads the lines a user would see."""
    with terminal_output():
        yield


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name``, filled by ``build`` once per run: the first worker to ask builds it while the others
    wait, then all read it (a session fixture alone would train once per worker). Tests that write take a copy."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    folder, done = root / name, root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if build raises
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def warm() -> Server:
    """This worker's warm server (``tests/warm.py``): commands started through it skip the 6 s of imports."""
    return shared()
