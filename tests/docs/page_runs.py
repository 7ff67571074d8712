"""Running a page's marked blocks (``<!-- docs-test: run -->``) as a reader would: in order, in one fresh folder.

The pages are shared between the modules ``test_page_runs_*.py``, each a pytest-xdist unit of its own under
``--dist loadfile``, so that the two workers run pages side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.docs.blocks import ROOT, Block, blocks, pages, schema_marks
from tests.warm import CLIENT, Server, pythonpath, shim_venv

RUN_PAGES = [page for page in pages() if any(b.mark == "run" for b in blocks(page))]
SHARES = 2  # the modules test_page_runs_0.py, test_page_runs_1.py


def share(k: int) -> list[str]:
    """The pages module ``test_page_runs_{k}.py`` runs."""
    return RUN_PAGES[k::SHARES]


def environment(server: Server) -> dict[str, str]:
    """The commands' environment: one OpenMP thread each (tests run side by side), no GPU, the project importable,
    the warm server's socket for the folder's ``.venv/bin/python``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", PYTHONPATH=pythonpath(), **server.env())
    env.pop("MSNAS_BROWSER_SHOTS", None)
    return env


def run_block(block: Block, folder: Path, server: Server) -> None:
    """Run one block in ``folder`` (sh through bash with errexit and pipefail, python through ours, warm)."""
    if block.lang == "python":
        argv = [sys.executable, "-S", "-E", str(CLIENT), "-c", block.text]
    else:
        argv = ["bash", "-c", "set -euo pipefail\n" + block.text]
    try:
        done = subprocess.run(
            argv,
            cwd=folder,
            env=environment(server),
            capture_output=True,
            text=True,
            timeout=block.timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as err:
        output = "".join(
            x.decode(errors="replace") if isinstance(x, bytes) else x or "" for x in (err.stdout, err.stderr)
        )
        pytest.fail(f"{block.where()}: still running after {block.timeout:g} s\n{output}")
    if done.returncode != 0:
        pytest.fail(f"{block.where()}: exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")


def keys_of(data: Any) -> set[str]:
    """A JSON object's keys, and those of the objects in its list or object values, one level down."""
    names = set(data)
    for value in data.values():
        items = value if isinstance(value, list) else []
        names |= {key for item in items if isinstance(item, dict) for key in item}
    return names


def check_page_runs(page: str, tmp_path: Path, server: Server) -> None:
    """Every block marked `docs-test: run` on the page runs, in order, in one fresh folder, whose ``.venv`` is
    ours with a ``bin/python`` that starts commands warm (``tests/warm.py``)."""
    (tmp_path / ".venv").symlink_to(shim_venv(tmp_path.parent / f"{tmp_path.name}-venv", server))
    for block in blocks(page):
        if block.mark == "run":
            run_block(block, tmp_path, server)
    text = (ROOT / "docs" / page).read_text()
    for name in schema_marks(page):
        missing = sorted(k for k in keys_of(json.loads((tmp_path / name).read_text())) if f"`{k}`" not in text)
        assert not missing, f"docs/{page}: fields of {name} the page does not name: {missing}"
