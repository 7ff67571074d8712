"""The one progress reporter: a line per finished step with elapsed time and an ETA, logged (a command shows it on
stderr)."""

from __future__ import annotations

import logging
import os
import sys
import time

# Set by a ``--devices`` launcher on a terminal: its workers print a progress line every this many seconds
# inside a trial (their stderr is a pipe, so they would show no bar).
PROGRESS_LINES_ENV = "MSNAS_PROGRESS_LINES"
LAUNCHER_LINE_SECONDS = 20.0

log = logging.getLogger(__name__)


def in_trial_progress() -> tuple[bool, float]:
    """(a bar, seconds between progress lines): a bar on a terminal, lines when a launcher asks for them."""
    if sys.stderr.isatty():
        return True, 0.0
    try:
        return False, max(0.0, float(os.environ.get(PROGRESS_LINES_ENV, "0")))
    except ValueError:
        return False, 0.0


class Progress:
    """``[done/total] what | elapsed 12 s, ETA 34 s`` per step; ``say`` for lines between steps."""

    def __init__(self, total: int, prefix: str = "") -> None:
        self.total, self.done, self.prefix = total, 0, prefix
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def eta(self) -> float:
        """Seconds left, from the mean time of the steps done so far."""
        return self.elapsed / self.done * max(0, self.total - self.done) if self.done else float("nan")

    def step(self, text: str) -> None:
        """One step finished: say it with the count, elapsed time and ETA."""
        self.done += 1
        self._say(f"[{self.done}/{self.total}] {text} | elapsed {self.elapsed:.0f} s, ETA {self.eta():.0f} s")

    def say(self, text: str) -> None:
        """A line that is not a step (a rung starts, a summary), with the elapsed time."""
        self._say(f"{text} | elapsed {self.elapsed:.0f} s")

    def _say(self, line: str) -> None:
        log.info(f"{self.prefix}{line}")
