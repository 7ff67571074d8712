"""Regenerate the golden cost table: ``python -m tests.golden.regen_costs``.

Run it only when a change to the counting or the presets is intended; the diff
of ``costs.json`` is then the reviewable record of what changed.
"""

from __future__ import annotations

import json
from pathlib import Path

from space import PRESETS, analytic_cost, preset
from space.layout import UPSCALES

GOLDEN = Path(__file__).with_name("costs.json")
DEEPER = {"srresnet": 46, "carn": 8}  # the paper's MS3-Conv+ depths


def golden_cases() -> list[tuple[str, str, int, int | None]]:
    """(backbone, preset, upscale, blocks) for every preset, plus the MS3-Conv+ models."""
    cases: list[tuple[str, str, int, int | None]] = [
        (b, n, s, None) for b in ("srresnet", "carn") for n in PRESETS for s in UPSCALES
    ]
    return cases + [(b, "ms3", 4, blocks) for b, blocks in DEEPER.items()]


def case_key(backbone: str, name: str, upscale: int, blocks: int | None) -> str:
    return f"{backbone}/{name}/x{upscale}" + (f"/blocks{blocks}" if blocks else "")


def compute() -> dict[str, dict[str, object]]:
    table: dict[str, dict[str, object]] = {}
    for backbone, name, upscale, blocks in golden_cases():
        spec = preset(name, backbone, upscale, blocks)
        cost = analytic_cost(spec)
        table[case_key(backbone, name, upscale, blocks)] = {
            "macs": cost.macs,
            "params": cost.params,
            "params_no_bias": cost.params_no_bias,
            "spec_hash": spec.spec_hash,
        }
    return table


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
