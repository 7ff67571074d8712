"""Keep freed memory in the process, so the next forward or training step does not page-fault it back in.

glibc serves every allocation of 32 MiB or more (a 64-channel 512x512 feature map is 64 MiB) with a fresh
``mmap`` and unmaps it when freed, and trims the top of its heap on every large free: each forward then
maps its big feature maps anew, one page fault per 4 KiB.  Turning both off keeps freed memory for reuse, and
the eager forward and the CPU proxy trainer run faster (how much: BENCHMARKS.md, "Kept memory, a folded
conv_last"); the price is that the process keeps its peak memory until it exits.  Every ``nas`` command calls
this first; ``MSNAS_KEEP_MEMORY=0`` keeps glibc's defaults.  Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

KEEP_MEMORY_ENV = "MSNAS_KEEP_MEMORY"
M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1  # the largest int mallopt takes

_kept = [False]  # whether this process has made the change (benchmarks print it with the machine)


def keep_freed_memory() -> bool:
    """Have glibc keep freed memory (no mmap for large blocks, no trimming); whether that took effect."""
    if os.environ.get(KEEP_MEMORY_ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt (musl)
        return False
    _kept[0] = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
    return _kept[0]


def memory_kept() -> bool:
    """Whether :func:`keep_freed_memory` took effect in this process."""
    return _kept[0]
