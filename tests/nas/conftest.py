"""One real random study of the tiny space, trained once per run (by one of pytest-xdist's workers) and copied
for each module that writes to it; a fresh PostgreSQL schema for tests that need a server, and a server of the
tests' own."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from nas.search.__main__ import main as search_main
from tests.conftest import built_once
from tests.nas.pgserver import Server, why_no_server

TRAINED = {"tiny_random_db", "tiny_random_url"}  # fixtures that train: 5 networks, once per run


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the trained tiny study is slow (``make quick`` leaves it out), wherever it asks for it."""
    for item in items:
        if TRAINED & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_random_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 ``--sampler random`` trials of the tiny space (its 5 architectures, each trained once on the CPU).

    Read it only: tests that add trials, companion studies or figures take a copy (``tiny_random_url``).
    """

    def search(folder: Path) -> None:
        argv = ["--study", "tiny", "--sampler", "random", "--n-trials", "5", "--device", "cpu"]
        assert search_main([*argv, "--storage", f"sqlite:///{folder / 'study.db'}"]) == 0

    return built_once(tmp_path_factory, "tiny-random", search) / "study.db"


@pytest.fixture(scope="module")
def tiny_random_url(tiny_random_db: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A test module's own copy of the session's tiny random study, as an SQLAlchemy URL."""
    db = tmp_path_factory.mktemp("tiny-random-copy") / "study.db"
    shutil.copyfile(tiny_random_db, db)
    return f"sqlite:///{db}"


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[Server]:
    """A PostgreSQL server of the tests' own, which a test may restart or stop (``tests/nas/pgserver.py``); skipped
    where none can run, except under CI, where it fails."""
    why = why_no_server()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but no PostgreSQL server can be started: {why}")
        pytest.skip(why)
    server = Server.create()
    yield server
    server.remove()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """MSNAS_TEST_POSTGRES_URL with a fresh, empty schema as its search path; dropped afterwards."""
    base = os.environ.get("MSNAS_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("CI is set but MSNAS_TEST_POSTGRES_URL is not: .ci/run must start PostgreSQL (.ci/postgres.sh)")
        pytest.skip("MSNAS_TEST_POSTGRES_URL is not set (`export MSNAS_TEST_POSTGRES_URL=$(.ci/postgres.sh)`)")
    assert base.startswith("postgresql"), f"MSNAS_TEST_POSTGRES_URL is not a PostgreSQL URL: {base}"
    schema = f"msnas_workers_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = sqlalchemy.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    finally:
        admin.dispose()
