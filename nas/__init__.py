"""Everything that runs: cost counting, training, search, report and export CLIs.

Our commands (``python -m nas.<verb>``, the ``msnas-*`` scripts) set how long PyTorch's idle OpenMP threads spin
before they sleep, unless ``GOMP_SPINCOUNT`` is already set; it happens here, when ``nas`` is imported before the
command's module loads torch (libgomp reads it once, as it loads).  libgomp's default (300 000 spins) lets a
waiting thread hold a core that, on a machine shared with other jobs, the other thread of the same op needs
(BENCHMARKS.md, "Kept memory, a folded conv_last").  A program that only imports ``nas`` as a library (a
notebook, a test) keeps its own OpenMP behaviour.
"""

import os
import sys

SPIN_COUNT_ENV = "GOMP_SPINCOUNT"
OPENMP_SPIN_COUNT = "100000"
COMMAND_SCRIPT_PREFIX = "msnas-"  # pyproject.toml's [project.scripts]


def running_a_command(argv0: str) -> bool:
    """Whether this process is one of our commands: ``python -m`` keeps ``sys.argv[0]`` at "-m" while it imports
    the packages above the module it runs (here, a module of ``nas``); a console script is named msnas-*."""
    return argv0 == "-m" or os.path.basename(argv0).startswith(COMMAND_SCRIPT_PREFIX)


if running_a_command(sys.argv[0] if getattr(sys, "argv", None) else ""):
    os.environ.setdefault(SPIN_COUNT_ENV, OPENMP_SPIN_COUNT)
