#!/usr/bin/env bash
# Resume: the 10x verdict on the bundled photos (7 named variants x 2 seeds), then the nested-budget measurement.
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=
B="--study ms3 --storage sqlite:///runs/verdict-bundled/s.db --budgets 10 --min-seeds 2 --max-seeds 2 --images fixed --alpha 0.025"
.venv/bin/python -m nas.verdict $B --out runs/verdict-bundled/w0 >> runs/verdict-bundled/w0.log 2>&1 &
sleep 30
.venv/bin/python -m nas.verdict $B --out runs/verdict-bundled/w1 >> runs/verdict-bundled/w1.log 2>&1
wait
echo "bundled done $(date)"
N="--study ms3 --storage sqlite:///runs/verdict291/race.db --data ../shared/data/T91 --data ../shared/data/BSD200 --val-data ../shared/data/Set5 --val-data ../shared/data/Set14 --budgets 1,3,10"
.venv/bin/python -m benchmarks.nested_budgets $N --shard 0/2 >> runs/nested0.log 2>&1 &
.venv/bin/python -m benchmarks.nested_budgets $N --shard 1/2 >> runs/nested1.log 2>&1
wait
.venv/bin/python -m benchmarks.nested_budgets $N --report-only > runs/nested.txt 2>&1
echo "nested done $(date)"
