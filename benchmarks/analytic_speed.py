"""How many random specs per second the analytic cost handles (target: 1,000 on one core).

``python -m benchmarks.analytic_speed [--n 3000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import random
import time

from space import ArchSpec, Edge, SpecError, UnitSpec, analytic_cost, entry_for, exit_for, layout_of
from space.layout import DEFAULT_BLOCKS
from space.unit import DOWN_OPS, KERNELS, UP_OPS


def random_unit(rng: random.Random, scales: int) -> UnitSpec:
    """A random Eqn-1 matrix: every diagonal entry, any off-diagonal ones, random kernels and resampling."""
    split = tuple(rng.choice((1, 1, 1, 2, 3)) for _ in range(scales))
    shared = len(set(split)) == 1 and rng.random() < 0.5
    edges = [
        Edge(
            i,
            i,
            "identity" if rng.random() < 0.05 else "conv",
            rng.choice((None, *KERNELS)),
            tie="w" if shared else None,
        )
        for i in range(scales)
    ]
    if shared:
        kernel = rng.choice((None, *KERNELS))
        edges = [Edge(i, i, kernel=kernel, tie="w") for i in range(scales)]
    for src in range(scales):
        for dst in range(scales):
            if src != dst and rng.random() < 0.6:
                ops = DOWN_OPS if dst > src else UP_OPS
                edges.append(
                    Edge(
                        src,
                        dst,
                        kernel=rng.choice(KERNELS),
                        resample=rng.choice(ops),
                        resample_first=rng.random() < 0.5,
                    )
                )
    return UnitSpec.square(split, edges)


def random_spec(rng: random.Random) -> ArchSpec:
    backbone = rng.choice(("srresnet", "carn"))
    upscale = rng.choice((2, 3, 4))
    blocks = rng.randint(1, 2 * DEFAULT_BLOCKS[backbone])
    unit = random_unit(rng, rng.randint(1, 4))
    units: tuple[UnitSpec, ...] = (unit,)
    if rng.random() < 0.2:  # layer-wise: a unit per converted layer, same branches
        n = len(layout_of(backbone, upscale, 64, blocks).sites) - 2
        units = tuple(unit if rng.random() < 0.5 else _same_branches(rng, unit) for _ in range(n))
    return ArchSpec(backbone, units, entry_for(unit), exit_for(unit), upscale, 64, blocks)


def _same_branches(rng: random.Random, unit: UnitSpec) -> UnitSpec:
    """Another random matrix on the same branches (or the unit itself when the draw does not fit them)."""
    try:
        return UnitSpec(unit.inputs, unit.outputs, random_unit(rng, unit.scales).edges)
    except SpecError:
        return unit


def sample(n: int, seed: int) -> tuple[list[ArchSpec], int, float]:
    """n valid random specs, how many draws were rejected, and the seconds it took."""
    rng = random.Random(seed)
    specs: list[ArchSpec] = []
    rejected = 0
    start = time.perf_counter()
    while len(specs) < n:
        try:
            specs.append(random_spec(rng))
        except SpecError:
            rejected += 1
    return specs, rejected, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from benchmarks.machine import cpu_name

    specs, rejected, build_s = sample(args.n, args.seed)
    dicts = [s.to_dict() for s in specs]
    start = time.perf_counter()
    reloaded = [ArchSpec.from_dict(d) for d in dicts]
    load_s = time.perf_counter() - start
    assert reloaded == specs
    start = time.perf_counter()
    total = sum(analytic_cost(s).macs for s in specs)
    cost_s = time.perf_counter() - start
    print(f"machine: {cpu_name()} (pure Python, one core)")
    print(f"{args.n} random valid specs ({rejected} invalid draws rejected by validation)")
    print(f"  draw + validate (rejected draws included): {args.n / build_s:,.0f} specs/s")
    print(f"  validate from JSON dicts:                   {args.n / load_s:,.0f} specs/s")
    print(f"  analytic cost:                              {args.n / cost_s:,.0f} specs/s  (target 1,000)")
    print(f"  validate + cost:                            {args.n / (load_s + cost_s):,.0f} specs/s")
    print(f"  (checksum {total} MACs)")


if __name__ == "__main__":
    main()
