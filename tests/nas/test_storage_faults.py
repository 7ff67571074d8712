"""A storage that cannot be written (read-only, full) or reached: search, report, analyze and the dashboard end in
one line naming the cause, exit 2, lose nothing and leave no temporary file; and each cause is read from the
driver's own error code (real sqlite3 and psycopg2 errors).

Read-only: every SQLite connection opens its file read-only (``mode=ro``), so a write fails as on a file or folder
the user may not write (root writes those anyway, so a chmod would test nothing here).  Full: every connection
caps the file at its current size (``max_page_count``), so a write that needs a new page fails as on a full disk
(SQLITE_FULL).  Both are hooks on every engine, through SQLAlchemy's public events.  A real full tmpfs and a real
read-only mount need root; they were run by hand as root (issue 31).  Unreachable: a closed loopback port.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import socket
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import psycopg2
import pytest
import sqlalchemy

from nas.analyze import main as analyze_main
from nas.dashboard import main as dashboard_main
from nas.errors import InputError
from nas.report import main as report_main
from nas.search.__main__ import main as search_main
from nas.study import keys
from nas.study.faults import storage_fault
from nas.study.storage import open_rdb, storage_for

READ_ONLY = "storage: the SQLite file or its folder is read-only (attempt to write a readonly database)"
FULL = "storage: the disk is full (database or disk is full)"
FIGURES = "the figures were not saved into the study (--no-dashboard skips them)"
STUDY, SEARCH = "tiny-random", ["--study", "tiny", "--sampler", "random"]  # the session's tiny study (conftest)


@contextmanager
def engines(event: str, hook: Callable[..., Any]) -> Iterator[None]:
    """``hook`` on ``event`` of every engine made inside the block."""
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, event, hook)
    try:
        yield
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, event, hook)


def read_only() -> Any:
    """Every SQLite file opens read-only, as a file its user may not write does."""

    def open_read_only(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if dialect.name == "sqlite":
            cargs[0] = f"{Path(cargs[0]).absolute().as_uri()}?mode=ro"
            cparams["uri"] = True

    return engines("do_connect", open_read_only)


def full(db: Path) -> Any:
    """``db`` can grow no more, as on a full disk (compacted into small pages first: little room left in them)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA page_size = 512")
    conn.execute("VACUUM")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()

    def cap(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    return engines("connect", cap)


@pytest.fixture
def study_db(tiny_random_db: Path, tmp_path: Path) -> Path:
    """A copy of the session's tiny study (5 trials), in a folder of its own."""
    db = tmp_path / "store" / "study.db"
    db.parent.mkdir()
    shutil.copyfile(tiny_random_db, db)
    return db


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines printed to stderr, with no traceback among them."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if ": error: " in line]


def leftovers(*folders: Path) -> list[str]:
    """Temporary files: SQLite's journals and our .partial files."""
    return [p.name for f in folders for p in f.rglob("*") if p.name.endswith(("-journal", "-wal", ".partial"))]


@pytest.mark.slow
def test_search_on_a_read_only_storage(study_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = digest(study_db)
    argv = [*SEARCH, "--storage", f"sqlite:///{study_db}", "--n-trials", "2", "--artifacts", str(tmp_path)]
    with read_only():
        assert search_main(argv) == 2
    [line] = error_lines(capsys)
    assert line.startswith(f"nas.search: error: {READ_ONLY}"), line
    assert digest(study_db) == before and leftovers(study_db.parent) == []


@pytest.mark.slow
@pytest.mark.parametrize("command", ["report", "analyze"])
def test_pages_of_a_read_only_storage(
    command: str, study_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page and its files are written first; the figures the storage refuses are one line saying so."""
    before, out = digest(study_db), tmp_path / "out"
    out.mkdir()
    common = ["--study", STUDY, "--storage", f"sqlite:///{study_db}"]
    run, argv, written = {
        "report": (report_main, [*common, "--out", str(out / "report.html")], ["report.html"]),
        "analyze": (analyze_main, [*common, "--out", str(out), "--perm", "20", "--boot", "20"],
                    ["analysis.html", "analysis.json", "summary.txt", "paired.json"]),
    }[command]  # fmt: skip
    with read_only():
        assert run(argv) == 2
        [line] = error_lines(capsys)
        assert line == f"nas.{command}: error: {READ_ONLY}; {FIGURES}"
        assert sorted(p.name for p in out.iterdir()) == sorted(written)
        assert (out / written[0]).read_text().rstrip().endswith("</html>")
        assert run([*argv, "--no-dashboard"]) == 0
    assert digest(study_db) == before and leftovers(study_db.parent, out) == []


@pytest.mark.slow
def test_search_on_a_full_disk_loses_nothing(
    study_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{study_db}"
    before = {
        t.number: (t.state, t.values) for t in optuna.load_study(study_name=STUDY, storage=storage_for(url)).trials
    }
    argv = [*SEARCH, "--storage", url, "--n-trials", "5", "--artifacts", str(tmp_path)]
    with full(study_db):
        assert search_main(argv) == 2
    [line] = error_lines(capsys)
    assert line.startswith(f"nas.search: error: {FULL}; the trials finished before it are saved"), line
    assert sqlite3.connect(study_db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after = optuna.load_study(study_name=STUDY, storage=storage_for(url)).trials
    assert {t.number: (t.state, t.values) for t in after if t.number in before} == before
    new = [t for t in after if t.number not in before]  # a trial the disk could not take FAILs, where it can say so
    assert all(t.state.name in ("FAIL", "RUNNING") for t in new), [t.state for t in new]
    assert {t.user_attrs.get(keys.FAIL_REASON) for t in new} <= {None, FULL}
    assert leftovers(study_db.parent) == []


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_an_unreachable_server_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://msnas:pw@127.0.0.1:{closed_port()}/msnas"
    common = ["--study", "tiny", "--storage", url]
    assert search_main([*common, "--n-trials", "1", "--artifacts", str(tmp_path)]) == 2
    assert report_main([*common, "--out", str(tmp_path / "report.html")]) == 2
    assert analyze_main([*common, "--out", str(tmp_path / "analysis")]) == 2
    assert dashboard_main(["--storage", url]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 4
    assert all("cannot connect to the database server (connection to server at" in line for line in lines), lines
    assert leftovers(tmp_path) == []


def test_storage_faults_are_named_from_the_drivers_codes(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)")
    read_only = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    full = sqlite3.connect(db)
    full.execute("PRAGMA max_page_count = 2")
    faults = [
        caught(lambda: read_only.execute("INSERT INTO t VALUES (1)")),
        caught(lambda: full.execute("INSERT INTO t VALUES (zeroblob(100000))")),
        caught(lambda: psycopg2.connect(host="127.0.0.1", port=closed_port(), user="u", password="pw", dbname="d")),
        OSError(errno.ENOSPC, "No space left on device"),
    ]
    wrapped = [sqlalchemy.exc.OperationalError("INSERT", {}, f) for f in faults[:3]] + faults[3:]
    named = [str(storage_fault(chained(err))) for err in wrapped]
    assert named[0] == "storage: the SQLite file or its folder is read-only (attempt to write a readonly database)"
    assert named[1] == "storage: the disk is full (database or disk is full)"
    assert named[2].startswith("storage: cannot connect to the database server (connection to server at")
    assert named[3] == "the disk is full ([Errno 28] No space left on device)"
    bug = caught(lambda: sqlite3.connect(db).execute("SELECT nosuch FROM t"))  # sqlite3 calls it operational
    assert storage_fault(chained(sqlalchemy.exc.OperationalError("SELECT", {}, bug))) is None


def caught(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except Exception as err:
        return err
    raise AssertionError("no error")


def chained(err: BaseException) -> BaseException:
    """``err`` as Optuna raises it: "invalid data in the commit", from the driver's error."""
    try:
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from err
    except optuna.exceptions.StorageInternalError as outer:
        return outer


def test_a_connection_dropped_under_the_opening_commit_is_waited_out_and_named_otherwise(tmp_path: Path):
    """A server restarting while a worker opens its storage: the opening's second commit fails on the dropped
    connection, which Optuna reports as "invalid data in the commit".  Where the server has answered this process
    before, or the drop shows that it answered now (the connection was invalidated under the commit), the opening
    tries again (a worker ended here under three workers and a restart, on a loaded machine); otherwise the one
    line names the driver's cause, not Optuna's words."""
    dropped = caught(lambda: psycopg2.connect(host="127.0.0.1", port=closed_port(), user="u", password="p", dbname="d"))

    def opening(name: str, invalidated: bool = False, **patience: Any) -> tuple[Any, list[int]]:
        commits: list[int] = []

        def drop_the_second_commit(_connection: Any) -> None:
            commits.append(1)
            if len(commits) == 2:
                raise sqlalchemy.exc.OperationalError("COMMIT", {}, dropped, connection_invalidated=invalidated)

        with engines("commit", drop_the_second_commit):
            return open_rdb(f"sqlite:///{tmp_path / name}", {}, heartbeat=60, grace=120, **patience), commits

    storage, commits = opening("again.db", wait=5.0, answered=True)
    assert storage.get_all_studies() == [] and len(commits) > 2
    storage, commits = opening("first.db", invalidated=True, wait=5.0)
    assert storage.get_all_studies() == [] and len(commits) > 2
    with pytest.raises(InputError) as refused:
        opening("never.db", wait=5.0)
    assert "cannot connect to the database server" in str(refused.value), refused.value
    assert "invalid data" not in str(refused.value)
