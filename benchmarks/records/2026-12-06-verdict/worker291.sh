#!/usr/bin/env bash
# one worker of the 291-set race; run two side by side (they share the work through claims)
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=
exec .venv/bin/python -m nas.verdict --study ms3 --storage sqlite:///runs/verdict291/race.db \
  --data ../shared/data/T91 --data ../shared/data/BSD200 --val-data ../shared/data/Set5 --val-data ../shared/data/Set14 \
  --budgets 1,3,10 --rope 0.05 --out runs/verdict291/$1
