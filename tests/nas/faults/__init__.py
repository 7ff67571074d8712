"""Fault injection: real processes of the plain commands on the tiny study, faults while they train, then the
invariants.

Each round starts the commands on a fresh storage, waits until a worker holds a RUNNING trial (read from the
storage: its recorded PID), brings on the fault after a random delay, and restarts what it ended with the same
command.  The faults (issues 10 and 31):

- SIGKILL of a worker: 2 on one SQLite file, 3 on PostgreSQL, a ``--halving`` run, a ``nas.fidelity`` run;
- a PostgreSQL server restarted under 3 workers (the tests' own server): every worker goes on;
- SIGKILL of a ``--devices cpu,cpu`` launcher: its workers end within seconds, their trials FAIL saying why;
- SIGTERM to a single search: exit 143, its trial FAIL with the reason;
- the storage's disk filled (a small tmpfs of the test's own): one line, exit 2, and the next run goes on;
- the storage's disk read-only when a search starts (the tmpfs remounted; a file open for writing keeps a
  mount from going read-only, so not mid-run): one line, exit 2, the file unchanged.

After every round:

- no trial is RUNNING or WAITING once the workers have restarted and finished;
- no architecture was trained twice (one COMPLETE, non-repeat trial per spec hash);
- every COMPLETE result seen after any fault is still there, with the same values;
- every named variant is COMPLETE in the end (a killed one is queued again);
- on PostgreSQL, the URL's password is in no line a worker printed, no artifact and no stored attribute;
- a killed ``--halving`` run's trials are failed by the next run, which completes;
- a killed ``nas.fidelity`` run resumes: every planned re-training recorded exactly once.

``MSNAS_FAULT_ROUNDS`` (default 1, ``ROUNDS=3 make faults``) sets the rounds per scenario and the faults per round;
the figures ``make faults`` prints (also appended to runs/faults.log, or to MSNAS_FAULT_LOG) go to BENCHMARKS.md
(Reliability), whose table says what is promised for each fault and which tests check it.  PostgreSQL needs
MSNAS_TEST_POSTGRES_URL (``.ci/run`` starts a server) or the PostgreSQL server programs (the restart scenario's own
server); without them a scenario is skipped, except under CI, where it fails.  The disk scenarios need a tmpfs
mount (root); without one they are skipped (``tests/nas/test_storage_faults.py`` makes a full and a read-only
SQLite file without).
"""
