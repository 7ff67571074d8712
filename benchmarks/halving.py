"""Does successive halving buy a better front for the same compute?  Hypervolume with and without it.

``python -m benchmarks.halving [--study ms3] [--budget 6] [--eta 3] [--rungs 1] [--dir runs/halving]``

Both arms draw architectures with the same seeded uniform sampler (``--sampler
random``) and train with the same proxy and data seed.  The plain arm trains
``budget`` candidates fully; the halving arm spends the same ``budget`` full proxy
runs on ``budget / (rungs + 1) * eta**rungs`` candidates.  Hypervolume is taken
over (PSNR, MACs, params) of each arm's COMPLETE trials, every objective scaled to
[0, 1] over the union of both arms (and of ``--reference`` when given, e.g. a
study that evaluated the whole space), reference point 1.1.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import optuna

from benchmarks.machine import describe
from nas.analysis.fronts import hypervolume, scaled_losses
from nas.errors import MsnasError
from nas.search.runner import SearchConfig, run_search
from nas.study.experimental import experimental_ok
from nas.study.records import arch_records
from nas.study.storage import storage_for
from studies import DIRECTIONS

REFERENCE = 1.1


def arm(study: str, url: str, extra: dict[str, Any]) -> tuple[list[tuple[float, ...]], float]:
    """Run one arm; its distinct COMPLETE points (PSNR, MACs, params) and wall seconds."""
    start = time.perf_counter()
    try:
        with experimental_ok():
            print(run_search(SearchConfig(study, storage=url, sampler="random", **extra)))
    except MsnasError as err:
        raise SystemExit(f"nas.search failed for {url}: {err}") from None
    seconds = time.perf_counter() - start
    loaded = optuna.load_study(study_name=f"{study}-random", storage=storage_for(url))
    return [r.point for r in arch_records(loaded)], seconds


def reference_points(text: str | None) -> list[tuple[float, ...]]:
    """Points of another study, ``NAME@URL`` (e.g. one that evaluated every architecture)."""
    if not text:
        return []
    name, _, url = text.partition("@")
    return [r.point for r in arch_records(optuna.load_study(study_name=name, storage=storage_for(url)))]


def volumes(arms: dict[str, list[tuple[float, ...]]]) -> dict[str, float]:
    """Each arm's hypervolume on one common scaling, as a fraction of the reference box."""
    union = [p for points in arms.values() for p in points]
    scaled = scaled_losses(union, DIRECTIONS)
    out, i = {}, 0
    box = REFERENCE ** len(DIRECTIONS)
    for name, points in arms.items():
        out[name] = hypervolume(scaled[i : i + len(points)], [REFERENCE] * len(DIRECTIONS)) / box
        i += len(points)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", default="ms3")
    p.add_argument("--budget", type=int, default=6, help="full proxy runs per arm")
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--rungs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", default="runs/halving", help="folder for the two SQLite studies (must not hold them)")
    p.add_argument("--reference", default=None, help="NAME@URL of a study to scale against (e.g. the full space)")
    args = p.parse_args()
    per_rung = args.budget / (args.rungs + 1)
    candidates = math.floor(per_rung) * args.eta**args.rungs
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("plain.db", "halving.db"):
        if (folder / name).exists():
            raise SystemExit(f"{folder / name} exists: give a fresh --dir")
    print(f"machine: {describe()}")
    plain, plain_s = arm(args.study, f"sqlite:///{folder}/plain.db", {"n_trials": args.budget, "seed": args.seed})
    halving = {"halving": True, "n_trials": candidates, "eta": args.eta, "rungs": args.rungs, "seed": args.seed}
    halved, halved_s = arm(args.study, f"sqlite:///{folder}/halving.db", halving)
    arms = {"plain": plain, "halving": halved}
    full = reference_points(args.reference)
    if full:
        arms["reference"] = full
    hv = volumes(arms)
    print(
        f"study {args.study}, budget {args.budget} full proxy runs per arm; halving: {candidates} candidates, "
        f"eta {args.eta}, {args.rungs} rung(s) below the full proxy"
    )
    print(f"  plain:   {len(plain):>3} architectures fully trained, hypervolume {hv['plain']:.4f}, {plain_s:.0f} s")
    print(f"  halving: {len(halved):>3} architectures fully trained, hypervolume {hv['halving']:.4f}, {halved_s:.0f} s")
    if full:
        print(f"  reference ({len(full)} architectures): hypervolume {hv['reference']:.4f}")
    print(f"  ratio halving / plain: {hv['halving'] / hv['plain']:.3f}" if hv["plain"] > 0 else "  plain: empty front")


if __name__ == "__main__":
    main()
