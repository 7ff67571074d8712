#!/usr/bin/env bash
# Copy the race storages (a consistent SQLite backup, safe while workers write), their logs and verdicts into
# this folder, so a new checkout resumes the race: copy race.db back to runs/verdict291/ and run worker.sh.
set -euo pipefail
cd "$(dirname "$0")/../../.."
R=benchmarks/records/2026-12-06-verdict
for db in runs/verdict291/race.db runs/verdict-bundled/s.db; do
  [ -f "$db" ] || continue
  name=$(basename "$(dirname "$db")").db
  .venv/bin/python -c "import sqlite3, sys; a = sqlite3.connect(sys.argv[1]); b = sqlite3.connect(sys.argv[2]); a.backup(b); b.close()" "$db" "$R/$name"
done
cp runs/verdict291/worker.sh $R/worker291.sh
for f in runs/verdict291/w0.log runs/verdict291/w1.log runs/verdict-bundled/w0.log runs/verdict-bundled/w1.log runs/nested.txt runs/queue.sh; do
  [ -f "$f" ] && cp "$f" "$R/$(echo "$f" | tr / _ | sed 's/^runs_//')"
done
ls -la $R
