"""Defaults that the search's configuration and its command line share, written once here (a module that imports
nothing, so ``python -m nas.search --help`` stays quick)."""

from __future__ import annotations

ETA = 3  # halving, ASHA and --stop-early keep the first 1/ETA of each rung
RUNGS = 1  # halving and ASHA: rungs below the full proxy
