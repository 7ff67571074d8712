#!/usr/bin/env bash
# one worker of the extra trainings for uniform designs on a copy of the 291 race's storage: copy verdict291.db to
# runs/uniform291/race.db and this file to runs/uniform291/worker.sh, then run side by side
#   runs/uniform291/worker.sh ms3-l,ms2 wA 6 &  runs/uniform291/worker.sh standard,ms wB 7
# (candidates, output folder, cap on the candidates' recorded runs: ms3-l seeds 1 and 2, standard seed 2)
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
exec .venv/bin/python -m nas.verdict --study ms3 --storage sqlite:///runs/uniform291/race.db \
  --data ../shared/data/T91 --data ../shared/data/BSD200 --val-data ../shared/data/Set5 --val-data ../shared/data/Set14 \
  --budgets 10 --rope 0.05 --min-seeds 3 --no-dashboard --candidates "$1" --max-trainings "$3" --out runs/uniform291/$2
