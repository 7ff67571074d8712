"""Stops: Ctrl-C, SIGTERM (``timeout``, SLURM, ``docker stop``, systemd), SIGHUP (a dropped SSH session) and a
launcher's death end a command alike, and never inside a storage write.

A command runs under ``handling_stops()`` (``nas.cli.run_cli`` does it for every ``python -m nas.<verb>``).
There a stop signal raises ``Stopped`` at once, as Ctrl-C raises KeyboardInterrupt, except inside
``deferring()``: the stop is recorded and raised at the region's end, or as soon as the work inside it enters
``interruptible()`` (a training, a wait).  A search defers around Optuna's ask and tell and its own attribute
writes and lets only the work be interrupted, so the trial is always told FAIL with the stop's reason instead
of being left RUNNING by an exception inside a commit.  A second SIGINT or SIGTERM interrupts at once wherever
it lands: whoever insists gets the prompt back, and the next run recovers what that leaves.

A worker that a launcher started (``nas.processes.PARENT_ENV``) is sent ``PARENT_DIED`` by the kernel when the
launcher dies, even by SIGKILL (Linux): it stops like this too.  The kernel sends that signal again as each
thread of the dead launcher exits, so it is a signal of its own, never counted as a second stop.

A hangup also takes the terminal away: a write to it would fail (EIO) before the trial is recorded, so output
that went to a terminal goes nowhere from then on (output to a file or pipe stays).  Under ``nohup`` (SIGHUP
ignored when the command starts) a hangup stays ignored.  A KeyboardInterrupt of the command's own that leaves
``handling_stops()`` after a stop (``nas.train`` stops between steps so) becomes that stop, which knows its signal
and exit code.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from nas.processes import PARENT_ENV, die_with_parent, silence_output

STOP_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "stopped by SIGTERM", signal.SIGHUP: "stopped by SIGHUP"}
PARENT_DIED = signal.SIGUSR1  # the parent-death signal of a launcher's workers (a signal nothing else sends us)
LAUNCHER_ENDED = "stopped: its launcher (process {}) ended"


class Stopped(KeyboardInterrupt):
    """A stop arrived: raised only where the work can be dropped (a training, a wait), never inside a storage write."""

    def __init__(self, reason: str = STOP_SIGNALS[signal.SIGINT], signum: int = signal.SIGINT) -> None:
        super().__init__(reason)
        self.reason, self.signum = reason, signum

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by this signal (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)."""
        return 128 + self.signum


@dataclass
class _Stops:
    """The process's stop state (signal handlers are process-wide, so is this)."""

    stop: Stopped | None = None
    signals: int = 0  # SIGINT, SIGTERM and SIGHUP received (a second one interrupts at once)
    regions: list[bool] = field(default_factory=list)  # innermost last: True where a stop may be raised
    launcher: int | None = None  # the launcher's process id, in a worker it started

    def may_raise(self) -> bool:
        return not self.regions or self.regions[-1]


_STATE = _Stops()


def stop_asked() -> Stopped | None:
    """The stop that arrived, if any (it stays asked until the command ends)."""
    return _STATE.stop


def raise_if_stopped() -> None:
    """Raise the stop that arrived, at a point where the work may be dropped."""
    if _STATE.stop is not None:
        raise _STATE.stop


def _reason(signum: int) -> str:
    if signum == PARENT_DIED:
        return LAUNCHER_ENDED.format(_STATE.launcher)
    return STOP_SIGNALS[signal.Signals(signum)]


def is_stop(reason: object) -> bool:
    """Whether a trial's failure reason is a stop's (an operator's signal, a launcher's death), not the trial's own."""
    launcher = re.escape(LAUNCHER_ENDED).replace(r"\{\}", r"\d+")
    return reason in STOP_SIGNALS.values() or (isinstance(reason, str) and re.fullmatch(launcher, reason) is not None)


def _leave_the_terminal() -> None:
    """Point stdout and stderr that go to a terminal (a character device) at /dev/null: it hung up."""
    for fd in (1, 2):
        try:
            terminal = stat.S_ISCHR(os.fstat(fd).st_mode)
        except OSError:
            continue
        if terminal:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if signum == PARENT_DIED:
        silence_output()  # the launcher read our stderr: a write there would fail before the trial is recorded
    else:
        if signum == signal.SIGHUP:
            _leave_the_terminal()
        _STATE.signals += 1
    if _STATE.stop is None:
        _STATE.stop = Stopped(_reason(signum), signum)
    if _STATE.may_raise() or _STATE.signals >= 2:
        raise _STATE.stop


@contextmanager
def handling_stops() -> Iterator[None]:
    """Handle SIGINT, SIGTERM, SIGHUP (unless ignored, as under ``nohup``) and, in a launcher's worker, its death
    as stops while the block runs; a KeyboardInterrupt leaving the block after a stop is raised as that stop; the
    stop state is cleared after it.  Elsewhere than in the main thread (where handlers cannot be set) it does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    nohup = signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    handled = [sig for sig in STOP_SIGNALS if not (nohup and sig == signal.SIGHUP)]
    handled += [PARENT_DIED] if PARENT_ENV in os.environ else []
    previous = {sig: signal.signal(sig, _on_signal) for sig in handled}  # before the kernel may send one
    try:
        _STATE.launcher = die_with_parent(PARENT_DIED)
        if _STATE.launcher is not None and os.getppid() != _STATE.launcher:  # it died before that took effect
            _on_signal(PARENT_DIED, None)
        yield
    except KeyboardInterrupt as err:
        if _STATE.stop is None or isinstance(err, Stopped):
            raise
        raise _STATE.stop from err  # the command's own interrupt after a stop: say which stop it was
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _STATE.stop, _STATE.signals, _STATE.launcher = None, 0, None


@contextmanager
def _region(may_raise: bool) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread alone
        yield
        return
    _STATE.regions.append(may_raise)
    try:
        if may_raise:
            raise_if_stopped()
        yield
    finally:
        _STATE.regions.pop()
    if _STATE.may_raise():  # leaving a deferring region (no exception on the way): its stop is raised now
        raise_if_stopped()


@contextmanager
def deferring() -> Iterator[None]:
    """A stop arriving in this block is recorded and raised when the block ends (or inside ``interruptible()``)."""
    with _region(False):
        yield


@contextmanager
def interruptible() -> Iterator[None]:
    """A stop raises at once in this block, also inside ``deferring()`` (and one that arrived before, on entry)."""
    with _region(True):
        yield
