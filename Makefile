# `make run` and `make test` each create the environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build by default (the wheel pip finds here). On a GPU machine, e.g.:
#   make setup TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0

.PHONY: setup run costs test quick lint docs pytest bench faults clean

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
	$(PY) -m pytest -q -p no:cacheprovider tests/test_code_shape.py
	$(MAKE) --no-print-directory docs

# The documentation site (docs/, mkdocs.yml) into build/site: --strict fails on a broken link or anchor and on a page
# missing from the nav. Its commands are run by tests/docs.
docs: setup
	$(PY) -m mkdocs build --strict --site-dir build/site

# The suite in pytest-xdist workers, one per logical core (TEST_WORKERS), each with one OpenMP thread: the proxy's small
# convolutions scale poorly over threads, so two one-thread workers finish sooner than one two-thread process.
# --dist loadfile keeps a module's tests in one worker, so its module fixtures (trained studies) are built once (the
# docs pages and the fault scenarios are split over several modules so that both workers run them); the session
# fixtures shared by many modules are built once per run (tests/conftest.py, built_once). Not loadgroup: pytest-xdist
# 3.8 marks a group by rewriting a test's node id, which pytest 9.2 no longer reads, so its groups are ignored.
# The tests' temporary folders (their studies' SQLite files) on /dev/shm where there is one: a commit there costs no
# disk flush (a flush guards against a power cut, which no test makes; killed processes lose nothing either way),
# and the searches the tests run commit once per recorded attribute.
TEST_WORKERS ?= logical
TEST_TMPDIR ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})
PYTEST_XDIST = TMPDIR=$(TEST_TMPDIR) OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25
pytest: setup
	$(PYTEST_XDIST)

test: lint pytest

# The loop while developing (under a minute on 2 cores): what is not marked slow, in parallel, first failure ends it.
quick: setup
	$(PYTEST_XDIST) -m "not slow" -x

# fault injection at full size (by hand; CI runs one round): SIGKILLs during search, halving and fidelity
faults: setup
	MSNAS_FAULT_ROUNDS=$${ROUNDS:-5} $(PY) -m pytest -q -s tests/nas/faults/

bench: setup
	$(PY) -m benchmarks.analytic_speed
	$(PY) -m benchmarks.latency

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
