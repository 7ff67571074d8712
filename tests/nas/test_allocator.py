"""Process settings every nas command runs with: freed memory kept (page faults counted), the OpenMP spin count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nas.allocator import KEEP_MEMORY_ENV

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux only)")

FAULTS_PER_FORWARD = """
import resource, sys, torch
from nas.allocator import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "keep" else False)
FORWARDS = int(sys.argv[2])
conv, x = torch.nn.Conv2d(3, 64, 3, padding=1), torch.rand(1, 3, 512, 512)
with torch.inference_mode():
    for _ in range(FORWARDS):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        conv(x).relu_().sum()  # a 64 MiB feature map, freed after the call
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str, forwards: int = 3, env: dict[str, str] | None = None) -> tuple[str, list[int]]:
    """Whether memory was kept, and the page faults of each forward in a fresh process."""
    command = [sys.executable, "-c", FAULTS_PER_FORWARD, mode, str(forwards)]
    done = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=True)
    kept, *faults = done.stdout.split()
    return kept, [int(f) for f in faults]


def test_glibc_maps_every_large_tensor_afresh() -> None:
    kept, faults = page_faults("default")
    assert kept == "False"
    assert min(faults) > 16_384  # at least the feature map's 16 384 pages of 4 KiB, faulted in each time


def test_kept_memory_is_reused_without_page_faults() -> None:
    """The steady state reuses the kept memory; how soon it is reached depends on the machine.

    Where the heap is laid out so that the second forward still grows it once (seen on a fresh machine of
    ours: 33 013, 16 385, 0, 0, 0 faults), the third and later forwards fault nothing; here the second does
    not fault either.  glibc's default faults every forward in (the test above).
    """
    kept, faults = page_faults("keep", forwards=6)
    assert kept == "True"
    assert faults[0] > 16_384  # the first forward's memory is new
    assert max(faults[2:]) < 100  # the steady state reuses it
    assert sum(faults[1:]) < faults[0]  # five later forwards together map less than the first one did


def test_the_environment_opts_out() -> None:
    kept, faults = page_faults("keep", env={KEEP_MEMORY_ENV: "0"})
    assert kept == "False"
    assert min(faults) > 16_384


def test_every_command_keeps_memory() -> None:
    code = (
        "from nas.allocator import memory_kept\nfrom nas.cli import run_cli\nrun_cli('t', lambda: str(memory_kept()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def spin_count_after_import(argv0: str, env: dict[str, str]) -> list[str]:
    """GOMP_SPINCOUNT once ``nas`` is imported in a fresh process whose argv[0] is ``argv0``, and whether torch
    was loaded by then."""
    code = f"import os, sys\nsys.argv[0] = {argv0!r}\nimport nas\n"
    code += "print(os.environ.get('GOMP_SPINCOUNT', 'unset'), 'torch' in sys.modules)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()


def test_our_commands_set_the_openmp_spin_count_before_torch_loads_it_and_a_library_import_does_not() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    assert spin_count_after_import("-m", env) == ["100000", "False"]  # python -m nas.<verb>: torch not loaded yet
    assert spin_count_after_import("/venv/bin/msnas-search", env) == ["100000", "False"]
    assert spin_count_after_import("-m", {**env, "GOMP_SPINCOUNT": "7"}) == ["7", "False"]  # a user's own stays
    assert spin_count_after_import("/usr/lib/python3/ipykernel_launcher.py", env) == ["unset", "False"]
    assert spin_count_after_import("", env) == ["unset", "False"]
