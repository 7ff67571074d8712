"""Opening storages: RDB with heartbeats, SQLite serialised, servers waited for, artifact folders, msnas studies."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from nas.errors import InputError, one_line
from nas.study.faults import chain, driver_cause
from nas.study.naming import join_names
from nas.study.objectives import check_msnas
from nas.study.reconnect import RETRY_SECONDS, SERVER_ENGINE, SteadyStorage, lost_connection, wait_for_server
from nas.study.urls import engine_url, parsed, public_url

DEFAULT_STORAGE = "sqlite:///runs/msnas.db"
HEARTBEAT_SECONDS, GRACE_SECONDS = 20, 60
ANSWERED: set[str] = set()  # server URLs opened in this process: opening one again waits out a restart


def check_storage_path(url: str) -> bool:
    """For a SQLite URL, make its folder (True); InputError for an in-memory one, a folder that cannot be, or a URL
    that does not parse."""
    parsed(url)  # a URL that does not parse is refused before anything is made, and never repeated
    sqlite = url.startswith("sqlite:///")
    if url.startswith("sqlite:") and (not sqlite or url.removeprefix("sqlite:///") in ("", ":memory:")):
        raise InputError(
            f"--storage: {public_url(url)} keeps nothing after this process ends; give a file, sqlite:///PATH"
        )
    if sqlite:
        folder = Path(url.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"--storage: cannot make the folder {folder} ({err.strerror or err})") from None
    return sqlite


def storage_for(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage with heartbeats (a killed worker's trial is failed when the next run starts).

    A PostgreSQL (any server's) storage checks a pooled connection before using it and waits for a server that
    went away (``nas.study.reconnect``): a restart of the server does not end the workers.
    MSNAS_HEARTBEAT_SECONDS, MSNAS_GRACE_SECONDS and MSNAS_RECONNECT_SECONDS (default: the grace period)
    override the heartbeat interval, the grace period and that wait (for tests).
    """
    sqlite = check_storage_path(url)
    engine: dict[str, Any] = {"connect_args": {"timeout": 60}} if sqlite else dict(SERVER_ENGINE)
    grace = int(os.environ.get("MSNAS_GRACE_SECONDS", GRACE_SECONDS))
    wait = float(os.environ.get("MSNAS_RECONNECT_SECONDS", grace))
    heartbeat = int(os.environ.get("MSNAS_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))
    storage = open_rdb(url, engine, heartbeat, grace, wait=wait, answered=url in ANSWERED)
    if sqlite:
        serialise_sqlite(storage.engine)  # our own RDBStorage, before Optuna wraps it
    else:
        ANSWERED.add(url)
        wait_for_server(storage.engine, wait)
    return storage


def open_rdb(
    url: str, engine: dict[str, Any], heartbeat: int, grace: int, wait: float = 0.0, answered: bool = False
) -> SteadyStorage:
    """The storage; InputError naming the cause when it cannot be opened.

    Many processes may open one URL at once: they may all find the tables missing and create them together,
    so that first opening is retried.  A server that has answered (``answered``: this process opened it before;
    or it dropped a connection under this opening) and cannot be reached now is restarting: it is waited for up
    to ``wait`` seconds, so a worker that opens it then does not end.  A server never reached is an error at once.
    """
    deadline, attempt = time.monotonic() + wait, 0
    while True:
        attempt += 1
        try:
            return SteadyStorage(
                engine_url(url), engine_kwargs=engine, heartbeat_interval=heartbeat, grace_period=grace
            )
        except Exception as err:  # SQLAlchemy raises many kinds for a bad URL or an unreachable server
            racing = isinstance(err, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.ProgrammingError)
            if attempt < 5 and (racing or "already exists" in str(err)):  # another worker creating the tables
                time.sleep(random.uniform(0.1, 0.5) * attempt)
                continue
            answered = answered or lost_connection(err)
            if answered and server_away(err) and time.monotonic() < deadline:
                time.sleep(RETRY_SECONDS)  # the server is restarting
                continue
            raise InputError(f"--storage: cannot open {public_url(url)}: {why_not_opened(err)}") from None


def server_away(err: Exception) -> bool:
    """Whether the server could not be reached or dropped the connection, also under a commit of the opening
    (Optuna reports that as "invalid data in the commit", the driver's error beneath it)."""
    return any(isinstance(link, sqlalchemy.exc.OperationalError) for link in chain(err))


def why_not_opened(err: Exception) -> str:
    """The cause from the driver's code where there is one, also beneath Optuna's own error (never the URL:
    SQLAlchemy's messages hold none)."""
    dbapi = next((link for link in chain(err) if isinstance(link, sqlalchemy.exc.DBAPIError)), None)
    cause = driver_cause(dbapi.orig) if dbapi is not None else None
    return cause or f"{err.__class__.__name__}: {one_line(err)}"


def serialise_sqlite(engine: sqlalchemy.engine.Engine) -> None:
    """Make every SQLite transaction take the write lock when it begins (BEGIN IMMEDIATE).

    Optuna hands a queued trial to a worker by reading that it is WAITING and then writing RUNNING,
    guarded by SELECT ... FOR UPDATE, which SQLite ignores: two processes could run the same trial.
    """

    def no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite leaves BEGIN to the hook below

    def begin_immediate(connection: sqlalchemy.engine.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    sqlalchemy.event.listen(engine, "connect", no_implicit_begin)
    sqlalchemy.event.listen(engine, "begin", begin_immediate)
    engine.dispose()  # the connections that opened the storage predate the hooks


def artifact_folder(url: str, override: str | None) -> Path:
    """The artifact folder, made if missing; InputError when it cannot be (a file in its place, say)."""
    folder = artifact_dir(url, override)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"--artifacts: cannot use {folder} as a folder ({err.strerror or err})") from None
    return folder


def artifact_dir(url: str, override: str | None) -> Path:
    if override:
        return Path(override)
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + ".artifacts")
    return Path("runs/artifacts")


def open_existing_study(url: str, name: str) -> optuna.Study:
    """Load an existing msnas study; a missing SQLite file or study is an error, never a new empty one."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise InputError(f"--storage: no such SQLite file: {url.removeprefix('sqlite:///')}")
    storage = storage_for(url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        found = optuna.get_all_study_names(storage)
        raise InputError(f"--study: no study {name!r} in {public_url(url)} (found: {join_names(found)})") from None
    check_msnas(study)
    return study
