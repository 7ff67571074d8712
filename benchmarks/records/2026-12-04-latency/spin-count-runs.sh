#!/bin/bash
cd /work/main
L=".venv/bin/python -m benchmarks.latency --rounds 9 --presets standard ms3 --runtimes eager --loads 0,2"
for rep in 1 2 3; do
  echo "=== rep $rep default"; $L
  echo "=== rep $rep spin10000"; GOMP_SPINCOUNT=10000 $L
  echo "=== rep $rep spin1000"; GOMP_SPINCOUNT=1000 $L
  echo "=== rep $rep spin100000"; GOMP_SPINCOUNT=100000 $L
done
echo DONE
