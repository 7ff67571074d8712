"""Everything that runs: cost counting, training, search, report and export CLIs.

Importing ``nas`` (every ``python -m nas.<verb>`` does, before torch loads OpenMP) sets how long PyTorch's
idle OpenMP threads spin before they sleep, unless ``GOMP_SPINCOUNT`` is already set.  libgomp's default
(300 000 spins) lets a waiting thread hold a core that, on a machine shared with other jobs, the other
thread of the same op needs: beside two busy jobs MS3 ran 1.36x-1.53x faster than standard, and with
100 000 spins 1.81x-1.98x (standard 15-20 % faster there, MS3 a third), the same on a quiet machine
(BENCHMARKS.md, "Kept memory, a folded conv_last").
"""

import os

SPIN_COUNT_ENV = "GOMP_SPINCOUNT"
OPENMP_SPIN_COUNT = "100000"

os.environ.setdefault(SPIN_COUNT_ENV, OPENMP_SPIN_COUNT)
