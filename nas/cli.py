"""What every ``python -m nas.<verb>`` shares: bad input is one line on stderr and exit code 2, and what the library
logs (progress, trials, warnings) reaches stderr as plain lines.

Only command-line modules import this; library code raises :mod:`nas.errors` exceptions and logs through
``logging.getLogger(__name__)`` instead (a program that imports msnas decides itself what it shows).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nas.allocator import keep_freed_memory
from nas.errors import InputError, MsnasError, one_line
from nas.files import not_root
from nas.stops import Stopped, handling_stops


class UsageError(InputError):
    """A bad command line: printed as one line, exit code 2."""


def bounded(flag: str, value: float, low: float, high: float) -> float:
    """``value`` if it is a finite number in [low, high]; UsageError naming the flag and the range otherwise."""
    if not (math.isfinite(value) and low <= value <= high):
        raise UsageError(f"{flag}: {value!r} is not in {low:g}..{high:g}")
    return value


def not_a_file(flag: str, path: str | Path) -> Path:
    """``path``, unless a file stands where a folder is wanted or it is a file-system root (checked before long
    work, made only after)."""
    folder = not_root(flag, path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag}: {folder} is a file, not a folder")
    return folder


def output_folder(flag: str, path: str | Path) -> Path:
    """``path`` as a folder to write into, made if missing; UsageError naming the flag when it cannot be."""
    folder = not_a_file(flag, path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"{flag}: cannot make the folder {folder} ({err.strerror or err})") from None
    return folder


LIBRARY_LOGGER = "nas"  # every library module's logger is below it (logging.getLogger(__name__))


class TerminalHandler(logging.Handler):
    """A record's message alone, on the stderr the process has when it is written (a pipe, a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


@contextmanager
def terminal_output(level: int = logging.INFO) -> Iterator[None]:
    """While a command runs, what the library logs at ``level`` or above is a plain line on stderr (one handler,
    however many commands nest); the logger's level is restored after."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    ours = None if any(isinstance(h, TerminalHandler) for h in logger.handlers) else TerminalHandler()
    before = logger.level
    if ours is not None:
        logger.addHandler(ours)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
        if ours is not None:
            logger.removeHandler(ours)


def quiet() -> None:
    """``--quiet``: only the library's warnings reach the terminal for the rest of the command."""
    logging.getLogger(LIBRARY_LOGGER).setLevel(logging.WARNING)


def quiet_optuna() -> None:
    """Optuna's own log says a failed trial as a traceback; ours says it in one line.  Process-wide, so a command
    calls it, never the library (Optuna is imported here: a command that opens no study never loads it)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def defaults_of(config: type) -> dict[str, Any]:
    """The field defaults of a configuration dataclass, for its command line to read: each default written once."""
    return {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def run_cli(
    prog: str, run: Callable[[], str], errors: tuple[type[Exception], ...] = (), interrupted: str | None = None
) -> int:
    """Print what ``run`` returns (exit 0); a usage, spec, msnas or listed error, or a storage or disk that failed
    under it (read-only, full, unreachable: ``nas.study.faults``), is one stderr line and exit 2.

    A stop (Ctrl-C, SIGTERM, a launcher's death: :mod:`nas.stops`) is one line, with ``interrupted``'s advice
    (what was saved, how to go on) where given, and the signal's exit code (130 for Ctrl-C, 143 for SIGTERM).
    Freed memory is kept in the process first (:mod:`nas.allocator`): commands run forwards and training steps.
    The library's log lines are plain lines on stderr while ``run`` runs (``terminal_output``; ``quiet`` for fewer).
    """
    from space import SpecError

    keep_freed_memory()

    handled: tuple[type[Exception], ...] = (MsnasError, SpecError, *errors)
    try:
        with handling_stops(), terminal_output():
            print(run())
    except handled as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (``--list | head``): what it read was all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python flushes at exit
        return 0
    except KeyboardInterrupt as err:  # a Stopped, or Ctrl-C where no handler could be set (not the main thread)
        stop = err if isinstance(err, Stopped) else Stopped()
        sys.unraisablehook = lambda _: None  # a finalizer of what the stop left half-built is noise after its line
        print(f"{prog}: {stop.reason}" + (f"; {interrupted}" if interrupted else ""), file=sys.stderr)
        return stop.exit_code
    except Exception as err:
        from nas.study.faults import storage_fault  # Optuna and SQLAlchemy: imported only by a command that failed

        fault = storage_fault(err)
        if fault is None:
            raise
        print(f"{prog}: error: {one_line(fault)}", file=sys.stderr)
        return 2
    return 0
