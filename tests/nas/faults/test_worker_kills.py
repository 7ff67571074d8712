"""SIGKILL of search workers mid-trial: 2 on one SQLite file, 3 on PostgreSQL (no password anywhere after)."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from nas.study.storage import storage_for
from tests.nas.faults.fleet import (
    ROUNDS,
    Fleet,
    load,
    no_secret,
    report,
    rounds,
    search_round,
)

pytestmark = pytest.mark.slow


def test_sqlite_search_workers_killed(fleets: list[Fleet], tmp_path: Path) -> None:
    began, kills, trials = time.monotonic(), 0, 0
    for r, folder in rounds(tmp_path):
        landed, n = search_round(fleets, folder, f"sqlite:///{folder}/study.db", 2, seed=r)
        kills, trials = kills + landed, trials + n
    assert kills >= ROUNDS, "no kill landed during a trial"
    report("2 SQLite workers", kills, ROUNDS, trials, time.monotonic() - began)


def test_postgres_search_workers_killed(fleets: list[Fleet], tmp_path: Path, postgres_url: str) -> None:
    began, kills, trials = time.monotonic(), 0, 0
    for r, folder in rounds(tmp_path):
        if r:  # a fresh study per round: the last one is deleted, and its claims must not carry over
            study = load(postgres_url)
            assert study is not None
            optuna.delete_study(study_name="tiny", storage=storage_for(postgres_url))
        landed, n = search_round(fleets, folder, postgres_url, 3, seed=100 + r)
        kills, trials = kills + landed, trials + n
        password = sqlalchemy.engine.make_url(postgres_url).password
        assert password, "the test server's URL has a password"
        no_secret(postgres_url, password, folder)
    assert kills >= ROUNDS, "no kill landed during a trial"
    report("3 PostgreSQL workers", kills, ROUNDS, trials, time.monotonic() - began)
