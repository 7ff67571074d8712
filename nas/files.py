"""Paths that nobody else steers: a name read from a storage stays in its folder, no command writes into a
file-system root, and a file is written to a fresh temporary file beside it, then renamed onto it.

A temporary file of a fixed name (``report.html.partial``) is opened through whatever stands there: a link
planted at that name makes the command write wherever the link points.  A fresh name opened with ``O_EXCL``
never follows a link, and the rename replaces a link at the final name instead of writing through it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from nas.errors import InputError, UnsafeName
from nas.processes import remove_stale_staging

SEPARATORS = ("/", "\\", "\0")  # either platform's separator, and NUL (which ends a path in the kernel)
PARTIAL = "partial"  # the last dotted part of a temporary file's name
FRESH_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
FRESH_TRIES = 8


def plain_name(name: object, what: str) -> str:
    """``name`` if it names a file inside a folder; UnsafeName naming ``what`` if it has a path component."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(s in name for s in SEPARATORS):
        raise UnsafeName(f"{what} {name!r} is not a plain file name: refused (it would leave its folder)")
    return name


def not_root(flag: str, path: str | Path) -> Path:
    """``path``, unless it is a file-system root: a command would write, and replace files, at a disk's top."""
    folder = Path(path)
    resolved = folder.resolve()
    if resolved == Path(resolved.anchor):
        raise InputError(f"{flag}: {folder} is the root folder; give a folder of its own")
    return folder


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A fresh file beside ``path`` to write, renamed onto ``path`` when the block ends and removed if it fails:
    a reader never sees half a file.  Temporary files of killed writers are removed first."""
    remove_stale_staging(path.parent, f".{path.name}.")
    fd, tmp = fresh_file(path)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fresh_file(path: Path) -> tuple[int, Path]:
    """A new file ``.NAME.RANDOM.PID.partial`` beside ``path``, open for writing (``O_EXCL``: made here, never a
    link that was there); the PID lets a later writer remove it once its process is gone."""
    for _ in range(FRESH_TRIES):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.{os.getpid()}.{PARTIAL}")
        try:
            return os.open(tmp, FRESH_FLAGS, 0o666), tmp
        except FileExistsError:  # a name taken (or planted): draw another
            continue
    raise FileExistsError(f"{path.parent}: no fresh temporary name for {path.name} in {FRESH_TRIES} tries")


def write_atomically(path: Path, data: str | bytes) -> None:
    """``data`` (text as UTF-8) written to a fresh file beside ``path`` and renamed onto it."""
    with replacing(path) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)
