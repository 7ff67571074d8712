#!/bin/bash
# Final CPU latency measurements for issue 13 (quiet machine): run by hand, nothing else running.
cd /work/main
L=".venv/bin/python -m benchmarks.latency --rounds 9 --presets standard ms3"
for rep in 1 2 3; do
  echo "=== rep $rep default"; $L --runtimes eager --loads 0,2
  echo "=== rep $rep threads=1"; OMP_NUM_THREADS=1 $L --runtimes eager --loads 0,2
  echo "=== rep $rep passive"; OMP_WAIT_POLICY=passive $L --runtimes eager,onnxruntime --loads 2
  echo "=== rep $rep glibc"; MSNAS_KEEP_MEMORY=0 $L --runtimes eager --loads 0
done
for rep in 4 5; do echo "=== rep $rep default"; $L --runtimes eager --loads 0,2; done
echo "=== presets"; .venv/bin/python -m benchmarks.latency --rounds 9 --runtimes eager --loads 0
echo "=== stages"; .venv/bin/python -m benchmarks.latency --stages --rounds 15 --presets standard ms ms2 ms3
for rep in 1 2; do
  echo "=== proxy keep"; .venv/bin/python -m benchmarks.proxy_overhead --iters 20 --rounds 2
  echo "=== proxy glibc"; MSNAS_KEEP_MEMORY=0 .venv/bin/python -m benchmarks.proxy_overhead --iters 20 --rounds 2
done
echo DONE
