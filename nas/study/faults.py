"""What broke under a storage, in one line, read from the driver's own error code: read-only, full, unreachable.

SQLAlchemy wraps the driver's error (sqlite3, psycopg2) and Optuna wraps that again as "invalid data in the
commit", so the cause is looked up along the exception's chain.  The line quotes the driver's first line, which
never holds the password (SQLAlchemy hands it to the driver as a keyword of its own, not inside a URL).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import optuna
import sqlalchemy

from nas.errors import StorageFault, one_line

STORAGE_ERRORS = (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError)

SQLITE_CAUSES = {  # primary result codes, https://www.sqlite.org/rescode.html
    5: "the SQLite file is locked by another process",
    6: "the SQLite file is locked",
    8: "the SQLite file or its folder is read-only",
    10: "a disk I/O error",
    11: "the SQLite file is corrupt",
    13: "the disk is full",
    14: "the SQLite file cannot be opened (a missing or read-only folder?)",
    26: "not an SQLite file",
}
POSTGRES_CAUSES = {  # SQLSTATE codes, then their classes; https://www.postgresql.org/docs/current/errcodes-appendix.html
    "25006": "the database is read-only (a standby, or default_transaction_read_only)",
    "53100": "the database server's disk is full",
    "53": "the database server is out of resources",
    "57P": "the database server shut down",
    "08": "the connection to the database server failed",
    "42501": "no permission on the database",
    "28": "the database server refused the login",
    None: "cannot connect to the database server",  # psycopg2 gives no code for a failed connection
}
OS_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "no permission",
    errno.EIO: "a disk I/O error",
}


def storage_fault(err: BaseException) -> StorageFault | None:
    """The storage fault anywhere in ``err``'s chain as one line, or None when it holds none."""
    for link in chain(err):
        if isinstance(link, sqlalchemy.exc.DBAPIError) and (cause := driver_cause(link.orig)):
            return StorageFault(f"storage: {cause}")
        if cause := os_cause(link):
            return StorageFault(cause)
    return None


def chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and the exceptions it was raised from or while handling, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        link = todo.pop(0)
        if link is not None and id(link) not in seen:
            seen.add(id(link))
            yield link
            todo += [link.__cause__, link.__context__]


def driver_cause(orig: BaseException | None) -> str | None:
    """A driver's error as 'CAUSE (its first line)'; None for an error in what we asked (a bug)."""
    if orig is None:
        return None
    if hasattr(orig, "sqlite_errorcode"):  # sqlite3 calls a missing column operational too: by code only
        cause = SQLITE_CAUSES.get(int(orig.sqlite_errorcode) & 0xFF)
    elif hasattr(orig, "pgcode"):
        cause = postgres_cause(orig.pgcode, operational(orig))
    else:
        cause = None
    return f"{cause} ({one_line(orig)})" if cause else None


def operational(orig: BaseException) -> bool:
    """Whether a driver's error is about the database's operation (DB-API's OperationalError), not our query."""
    return any(kind.__name__ == "OperationalError" for kind in type(orig).__mro__)


def postgres_cause(code: str | None, operational: bool) -> str | None:
    """A PostgreSQL error's cause by its SQLSTATE, then by its class; no code: the client could not connect; any
    other operational error is the database's trouble, not our query's."""
    if code is None:
        return POSTGRES_CAUSES[None] if operational else None
    known = (POSTGRES_CAUSES[k] for k in (code, code[:3], code[:2]) if k in POSTGRES_CAUSES)
    return next(known, "the database failed" if operational else None)


def os_cause(err: BaseException) -> str | None:
    """A full, read-only or forbidden disk as 'CAUSE (the system's message)'."""
    if not isinstance(err, OSError) or err.errno not in OS_CAUSES:
        return None
    return f"{OS_CAUSES[err.errno]} ({one_line(err)})"
