#!/usr/bin/env bash
# After the bundled verdict workers (pids given): the nested-budget measurement, one shard per freed core, run from
# a stable clone; a freed core waits while /tmp/hold_nested exists (a measurement of the tests uses it)
# from (/work/stable) so that edits in /work/main's working tree cannot break it.
cd /work/stable
export OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
N="--study ms3 --storage sqlite:////work/main/runs/verdict291/race.db --data ../shared/data/T91 --data ../shared/data/BSD200 --val-data ../shared/data/Set5 --val-data ../shared/data/Set14 --budgets 1,3,10"
shard=0
left=("$@")
while [ ${#left[@]} -gt 0 ]; do
    still=()
    for pid in "${left[@]}"; do
        if kill -0 "$pid" 2>/dev/null || [ -e /tmp/hold_nested ]; then still+=("$pid"); continue; fi
        echo "verdict worker $pid done $(date); nested shard $shard/2 starts"
        .venv/bin/python -m benchmarks.nested_budgets $N --shard $shard/2 >> /work/main/runs/nested$shard.log 2>&1 &
        shard=$((shard + 1))
    done
    left=("${still[@]}")
    sleep 20
done
wait
.venv/bin/python -m benchmarks.nested_budgets $N --report-only > /work/main/runs/nested.txt 2>&1
echo "nested done $(date)"
