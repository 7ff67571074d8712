"""The errors msnas's library code raises for things a user can fix.

Library modules raise these and never print or exit; the command-line layer (``nas.cli.run_cli``)
turns any of them into one line on stderr and exit code 2.
"""

from __future__ import annotations


class MsnasError(Exception):
    """An error the user can act on (bad input, a failed check): one line at the command line."""


class InputError(MsnasError, ValueError):
    """Bad input: a missing study, an unreadable file, a value out of range."""


def one_line(err: BaseException) -> str:
    """The first line of an exception's message (torch's are often several lines long)."""
    lines = str(err).strip().splitlines()
    return lines[0].strip() if lines else type(err).__name__


class UnsafeName(InputError):
    """A file name read from a storage that has a path component: whoever writes the storage must not choose
    where a worker writes or reads."""


class StorageFault(MsnasError):
    """The storage or a disk failed under a command (read-only, full, unreachable): one line naming the cause;
    what was committed before it stays."""
