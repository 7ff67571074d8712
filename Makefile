# `make run` and `make test` each create the environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build by default (the wheel pip finds here). On a GPU machine, e.g.:
#   make setup TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0

.PHONY: setup run costs test lint pytest bench faults clean

# --no-compile: no .pyc for every installed file up front (torch alone: 43 s -> 15 s here); Python compiles
# what it imports on first use and keeps it.  Machines of ours set PYTHONDONTWRITEBYTECODE=1, so that nothing
# would be kept and every process would compile torch's modules again (importing torch and its optimiser: 12.6 s
# a process instead of 3.6 s): the commands below run without it.
unexport PYTHONDONTWRITEBYTECODE
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-compile $(TORCH)
	$(PY) -m pip install -q --no-compile -c constraints.txt -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# The main job on the bundled photos: a short search of the paper's ms3 space (its 7 named variants; run it again,
# or with RUN_TRIALS=10, for sampled points) into runs/msnas.db, then its report; a second `make run` resumes the
# study. One single-threaded worker per core (RUN_DEVICES): 68 s per training against 77 s for one two-threaded
# process (2026-12-03, BENCHMARKS.md), as the proxy's small convs scale poorly over threads. RUN_TRIALS counts the
# trainings of all workers.
RUN_DEVICES ?= cpu,cpu
RUN_TRIALS ?= 7
run: setup
	$(PY) -m nas.search --study ms3 --devices $(RUN_DEVICES) --n-trials $(RUN_TRIALS)
	$(PY) -m nas.report --study ms3 --out runs/report.html

# Our cost counts beside the paper's Tables 2, 3 and 4.
costs: setup
	$(PY) -m nas.cost --paper-table

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

pytest: setup
	$(PY) -m pytest -q

test: lint pytest

# fault injection at full size (by hand; CI runs one round): SIGKILLs during search, halving and fidelity
faults: setup
	MSNAS_FAULT_ROUNDS=$${ROUNDS:-5} $(PY) -m pytest -q -s tests/nas/test_faults.py

bench: setup
	$(PY) -m benchmarks.analytic_speed
	$(PY) -m benchmarks.latency

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
