"""``benchmarks.latency --stages``: every stage of the backbone timed and costed, the parts add up to the whole."""

from __future__ import annotations

import pytest
import torch

from backbones import build_model
from benchmarks.latency import OTHER, stage_macs, stage_ms, stage_table
from space import analytic_cost, preset


@pytest.mark.parametrize("name", ["standard", "ms3"])
def test_stage_macs_add_up_to_the_analytic_count(name: str):
    spec = preset(name)
    macs = stage_macs(spec, 32)
    assert set(macs) == {"conv_first", "body", "conv_body1", "conv_body2", "up.0", "up.1", "conv_hr", "conv_last"}
    assert sum(macs.values()) == pytest.approx(analytic_cost(spec, 32).macs, rel=1e-12)


def test_every_stage_is_timed_and_hooks_are_removed():
    spec = preset("ms3", blocks=1, width=16)
    model = build_model(spec)
    ms = stage_ms(model, torch.rand(1, 3, 16, 16), rounds=2)
    assert set(ms) == set(stage_macs(spec, 16)) | {OTHER}
    assert all(value > 0 for name, value in ms.items() if name != OTHER)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_stage_table_puts_each_stage_beside_its_mac_ratio():
    lines = stage_table(["standard", "ms3"], 8, rounds=1)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    assert rows["conv_last"].split(" | ")[1] == "1.00x"  # the same conv in both networks
    assert rows["body"].split(" | ")[1] == "3.06x"  # 64x64 3x3 against MS3's 32+32 split (36 / 11.75)
    assert rows["whole"].split(" | ")[1] == "2.49x"  # the paper's Table 2 ratio
    assert rows["other"].split(" | ")[1] == "-"
