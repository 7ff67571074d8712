"""A PostgreSQL server restarted, or stopped for a while, under a running ``nas.search``: the worker goes on once the
server is back (pooled connections are checked before use, and a server that went away is waited for); a server
away for longer than that wait ends the worker in one line, and the next run fails its trial and goes on.

The server is the tests' own (``tests/nas/pgserver.py``), restarted with pg_ctl; the URL is a plain
``postgresql://``, which names no driver (SQLAlchemy 2.1 would pick psycopg 3, which is not installed).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from nas.search.__main__ import main as search_main
from nas.study.storage import storage_for
from tests import warm
from tests.nas.pgserver import Server
from tests.warm import Command

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 150
pytestmark = pytest.mark.slow


def start_search(url: str, n_trials: int, tmp_path: Path, env: dict[str, str] | None = None) -> Command:
    """``python -m nas.search`` on the tiny study, its stderr in tmp_path/err."""
    cmd = [sys.executable, "-m", "nas.search", "--study", "tiny", "--storage", url, "--n-trials", str(n_trials),
           "--artifacts", str(tmp_path / "artifacts")]  # fmt: skip
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with (tmp_path / "err").open("wb") as err:
        return warm.popen(cmd, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)


def wait_for(tmp_path: Path, pattern: str, proc: Command) -> None:
    """Until the worker's stderr holds ``pattern``; fails if the worker ends first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not re.search(pattern, (tmp_path / "err").read_text(errors="replace"), re.MULTILINE):
        assert proc.poll() is None, f"the worker ended before {pattern!r}:\n{(tmp_path / 'err').read_text()}"
        assert time.monotonic() < deadline, f"no {pattern!r} within {WAIT_SECONDS} s"
        time.sleep(0.1)


def states(url: str) -> dict[int, str]:
    study = optuna.load_study(study_name="tiny", storage=storage_for(url))
    return {t.number: t.state.name for t in study.get_trials(deepcopy=False)}


@pytest.fixture
def server(private_postgres: Server) -> Iterator[Server]:
    """The tests' own server, running again whatever the test left it in."""
    yield private_postgres
    with contextlib.suppress(subprocess.CalledProcessError):  # it runs already
        private_postgres.start()


def test_a_search_goes_on_through_a_restart_and_an_outage(server: Server, tmp_path: Path) -> None:
    url = server.database("restart", "r3start-pw").render_as_string(hide_password=False)
    worker = start_search(url, 5, tmp_path)
    try:
        wait_for(tmp_path, r"^trial 1 \S+ starts", worker)
        server.restart()  # every pooled connection dies; the next query would have failed on one
        wait_for(tmp_path, r"^trial 2 \S+ starts", worker)
        server.stop()
        wait_for(tmp_path, r"the database server cannot be reached", worker)  # the worker reached for it
        time.sleep(2)
        server.start()
        assert worker.wait(timeout=WAIT_SECONDS) == 0, (tmp_path / "err").read_text()
    finally:
        worker.kill()
    err = (tmp_path / "err").read_text()
    assert "Traceback" not in err
    assert "answers again after" in err
    trials = states(url)
    assert set(trials.values()) == {"COMPLETE"}, trials
    assert len(trials) >= 5  # 5 trainings, and the repeats the sampler drew


def test_a_server_away_too_long_ends_the_worker_in_one_line_and_loses_nothing(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.database("outage", "0utage-pw").render_as_string(hide_password=False)
    worker = start_search(url, 3, tmp_path, {"MSNAS_RECONNECT_SECONDS": "2"})
    try:
        wait_for(tmp_path, r"^trial 1 \S+ starts", worker)
        server.stop()
        assert worker.wait(timeout=WAIT_SECONDS) == 2
    finally:
        worker.kill()
    err = (tmp_path / "err").read_text().splitlines()
    assert [line for line in err if line.startswith("nas.search: error:")] == [err[-1]], err
    assert "storage: cannot connect to the database server" in err[-1]
    assert "trials finished before it are saved" in err[-1]
    assert not any("Traceback" in line for line in err)

    server.start()
    assert states(url) == {0: "COMPLETE", 1: "RUNNING", 2: "WAITING"}  # the server went while trial 1 trained
    argv = ["--study", "tiny", "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "artifacts")]
    assert search_main(argv) == 0
    assert "their worker on this machine is gone: trials [1]" in capsys.readouterr().err
    after = states(url)
    assert after[0] == "COMPLETE" and after[1] == "FAIL" and "RUNNING" not in after.values()


def test_opening_a_storage_again_waits_for_its_server_and_a_server_never_reached_is_refused_at_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker opens its storage more than once (the study, its companion, the claims); an opening that falls
    in a restart waits for the server, as pooled connections do, where a first opening fails at once."""
    import threading

    from nas.errors import InputError
    from nas.study import storage as storage_module

    monkeypatch.setattr(storage_module, "ANSWERED", set())
    monkeypatch.setenv("MSNAS_RECONNECT_SECONDS", "60")
    url = server.database("reopen", "r3open-pw").render_as_string(hide_password=False)
    storage_for(url)  # opened once: the server has answered this process
    server.stop()
    restart = threading.Timer(3.0, server.start)
    restart.start()
    began = time.monotonic()
    try:
        assert optuna.get_all_study_names(storage_for(url)) == []  # waited, then opened
    finally:
        restart.join()
    assert time.monotonic() - began >= 2.5
    server.stop()
    monkeypatch.setattr(storage_module, "ANSWERED", set())  # a process that never reached it
    began = time.monotonic()
    with pytest.raises(InputError, match="cannot open"):
        storage_for(url)
    assert time.monotonic() - began < 20


def test_a_read_whose_connection_the_server_drops_mid_query_runs_again(server: Server) -> None:
    """Pre-ping checks a connection before a query; a restart landing under the query itself is met by running
    that read once more on a new connection (the fault suite's restart scenario found it)."""
    import sqlalchemy

    url = server.database("midquery", "m1dquery-pw").render_as_string(hide_password=False)
    storage = storage_for(url)
    assert isinstance(storage, optuna.storages.RDBStorage)
    study = optuna.create_study(study_name="s", storage=storage)
    study.enqueue_trial({})
    killer = sqlalchemy.create_engine(
        url.replace("postgresql://", "postgresql+psycopg2://"), poolclass=sqlalchemy.pool.NullPool
    )
    dropped: list[int] = []

    def drop_this_connection(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM trials" in statement and not dropped:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with killer.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            dropped.append(pid)

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", drop_this_connection)
    try:
        trials = storage.get_all_trials(storage.get_study_id_from_name("s"))
    finally:
        sqlalchemy.event.remove(storage.engine, "before_cursor_execute", drop_this_connection)
        killer.dispose()
        storage.engine.dispose()  # the tests' server is shared: give its connections back
    assert dropped and len(trials) == 1


def test_the_connections_of_one_outage_share_one_wait() -> None:
    """A server that went away is waited for once: each connection after the wait has run out fails at once (a
    worker made five in turn, each waiting anew, and took five times the wait to end)."""
    import sqlalchemy

    from nas.study.reconnect import wait_for_server
    from tests.nas.pgserver import free_port

    url = f"postgresql+psycopg2://nobody:pw@127.0.0.1:{free_port()}/none"  # nothing listens there
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    wait_for_server(engine, 1.5)
    waited = []
    for _ in range(3):
        began = time.monotonic()
        with pytest.raises(sqlalchemy.exc.OperationalError), engine.connect():
            pass
        waited.append(time.monotonic() - began)
    assert waited[0] >= 1.5 and max(waited[1:]) < 0.5, waited
