"""Which blocks should a layer-wise spec keep at the proxy's depth?  Ranks against full-depth training.

``python -m benchmarks.layerwise_depth [--k 5] [--seed 0]``

A layer-wise spec fixes a unit per layer of its 16 blocks; the CPU proxy trains 2 blocks.  For K
specs drawn at random from the ``layerwise`` study's space, this trains, with the same data, seed
and recipe (the CPU proxy: width 64, 300 iterations): the full 16-block network (the reference),
and the 2-block network under each rule: ``even`` (blocks 0 and 15, the rule ``ArchSpec.resized``
uses) and ``first`` (blocks 0 and 1).  It prints each run's PSNR and each rule's Kendall tau and
Spearman rho against the reference, with bootstrap intervals.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna

from benchmarks.machine import describe
from nas.analysis.proxy_stats import rank_correlations
from nas.search.suggest import spec_from_trial
from nas.sr.held_out import validation_images
from nas.sr.pictures import training_pictures
from nas.training.proxy import ValidationSet, train_proxy
from space.arch import ArchSpec
from studies import CPU_PROXY, STUDIES

RULES = {"even": None, "first": (0, 1)}  # None: ArchSpec.resized's default (evenly spaced)


def draw(k: int, seed: int) -> list[ArchSpec]:
    """K distinct per-layer specs drawn uniformly, dimension by dimension, from the layerwise space."""
    space = STUDIES["layerwise"].space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs: dict[str, ArchSpec] = {}
    while len(specs) < k:
        spec = spec_from_trial(study.ask(), space)
        specs.setdefault(spec.spec_hash, spec)
    return list(specs.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/layerwise_depth.json")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"machine: {describe()}")
    space = STUDIES["layerwise"].space
    train, _ = training_pictures((), None, None, space.upscale)
    val = ValidationSet.of(validation_images(()), space.upscale)
    full = replace(CPU_PROXY, blocks=None)  # the spec's own 16 blocks
    rows = []
    for i, spec in enumerate(draw(args.k, args.seed)):
        row: dict[str, object] = {"spec_hash": spec.spec_hash}
        start = time.perf_counter()
        row["full"] = train_proxy(spec, full, train, val, seed=0).psnr
        row["full_seconds"] = time.perf_counter() - start
        for rule, kept in RULES.items():
            small = spec.resized(CPU_PROXY.width, CPU_PROXY.blocks, kept)
            start = time.perf_counter()
            row[rule] = train_proxy(small, CPU_PROXY, train, val, seed=0).psnr
            row[f"{rule}_seconds"] = time.perf_counter() - start
        rows.append(row)
        print(f"[{i + 1}/{args.k}] {spec.spec_hash}: " + ", ".join(f"{k} {row[k]:.3f}" for k in ("full", *RULES)),
              flush=True)  # fmt: skip
    reference = np.array([r["full"] for r in rows], dtype=float)
    result = {"machine": describe(), "k": args.k, "seed": args.seed, "runs": rows, "rules": {}}
    for rule in RULES:
        c = rank_correlations(np.array([r[rule] for r in rows], dtype=float), reference, rng=np.random.default_rng(0))
        result["rules"][rule] = vars(c)
        print(f"{rule:<6} Kendall tau {c.kendall_tau:+.2f} [{c.tau_low:+.2f}, {c.tau_high:+.2f}]  "
              f"Spearman rho {c.spearman_rho:+.2f} [{c.rho_low:+.2f}, {c.rho_high:+.2f}]")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
