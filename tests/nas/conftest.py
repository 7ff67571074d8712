"""One real random study of the tiny space, trained once per session and copied for each module that writes to it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nas.search.__main__ import main as search_main


@pytest.fixture(scope="session")
def tiny_random_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 ``--sampler random`` trials of the tiny space (its 5 architectures, each trained once on the CPU).

    Read it only: tests that add trials, companion studies or figures take a copy (``tiny_random_url``).
    """
    db = tmp_path_factory.mktemp("tiny-random") / "study.db"
    argv = ["--study", "tiny", "--sampler", "random", "--n-trials", "5", "--device", "cpu"]
    assert search_main([*argv, "--storage", f"sqlite:///{db}"]) == 0
    return db


@pytest.fixture(scope="module")
def tiny_random_url(tiny_random_db: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A test module's own copy of the session's tiny random study, as an SQLAlchemy URL."""
    db = tmp_path_factory.mktemp("tiny-random-copy") / "study.db"
    shutil.copyfile(tiny_random_db, db)
    return f"sqlite:///{db}"
