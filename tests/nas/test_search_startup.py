"""nas.search --list and --dump-study answer without importing torch, Optuna or SQLAlchemy (issue 32: seconds of
imports before one line); checked in a fresh interpreter, so it holds on any machine, loaded or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nas.study.storage import DEFAULT_STORAGE

HEAVY = ("torch", "optuna", "sqlalchemy", "plotly", "scipy")
PROBE = f"""
import contextlib, io, json, sys
from nas.search.__main__ import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps(dict(code=code, out=out.getvalue(), heavy=heavy)))
"""


def probe(argv: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow  # starts an interpreter
@pytest.mark.parametrize(
    "argv",
    [
        ["--list"],
        ["--study", "layerwise", "--dump-study"],
        ["--study", "tiny", "--proxy", "iterations=30", "--study-name", "tiny-30", "--dump-study"],
    ],
)
def test_listing_and_dumping_import_nothing_heavy(argv: list[str]):
    got = probe(argv)
    assert got["code"] == 0 and got["out"].strip() and got["heavy"] == []


@pytest.mark.slow  # starts an interpreter
def test_the_storage_default_said_in_the_help_is_the_storage_module_s():
    done = subprocess.run([sys.executable, "-m", "nas.search", "--help"], capture_output=True, text=True, check=True)
    assert DEFAULT_STORAGE.removeprefix("sqlite:///") in " ".join(done.stdout.split())


def test_a_reader_that_went_away_ends_the_listing_quietly():
    """``nas.search --list | head -1``: the pipe closed before the list is written is exit 0 and no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the first write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nas.search", "--list"], stdout=write_end, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")
