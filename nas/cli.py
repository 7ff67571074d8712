"""What every ``python -m nas.<verb>`` shares: bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class UsageError(Exception):
    """A bad command line or input: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def run_cli(prog: str, run: Callable[[], str], errors: tuple[type[Exception], ...] = ()) -> int:
    """Print what ``run`` returns (exit 0); a usage, spec or listed error is one stderr line and exit 2."""
    from space import SpecError

    handled: tuple[type[Exception], ...] = (UsageError, SpecError, *errors)
    try:
        print(run())
    except handled as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    return 0


def one_line(err: BaseException) -> str:
    """The first line of an exception's message (torch's are often several lines long)."""
    lines = str(err).strip().splitlines()
    return lines[0].strip() if lines else type(err).__name__
