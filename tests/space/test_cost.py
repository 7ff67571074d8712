"""Analytic cost: the paper's published rows, the golden table, and input-size checks."""

from __future__ import annotations

import json

import pytest

from nas.output.paper import MACS_TOLERANCE, PAPER_ROWS, PARAMS_TOLERANCE
from space import SpecError, analytic_cost, check_lr_size, preset
from tests.golden.regen_costs import GOLDEN, case_key, golden_cases

REPRODUCIBLE = [row for row in PAPER_ROWS if row.preset is not None]


@pytest.mark.parametrize("row", REPRODUCIBLE, ids=lambda r: f"{r.table}:{r.label}")
def test_paper_rows_are_reproduced(row):
    assert row.preset is not None
    cost = analytic_cost(preset(row.preset, row.backbone, 4, row.blocks))
    params = cost.params if row.bias == "with" else cost.params_no_bias
    assert abs(cost.macs / 1e9 - row.gmacs) / row.gmacs < MACS_TOLERANCE
    assert abs(params / 1e6 - row.mparams) / row.mparams < PARAMS_TOLERANCE


def test_every_table_row_is_listed():
    tables = {(r.table, r.backbone) for r in PAPER_ROWS}
    assert {("Table 2", "srresnet"), ("Table 3", "srresnet"), ("Table 4", "srresnet"), ("Table 4", "carn")} <= tables
    assert len([r for r in PAPER_ROWS if r.table == "Table 4"]) == 6


def test_exact_counts_of_the_standard_network():
    """The layout in paper-costs.md: 42.7599 G MACs and 1,591,427 params, worked out by hand."""
    lr = 128 * 128
    per_lr_pixel = 3 * 64 * 9 + 34 * 64 * 64 * 9 + 64 * 256 * 9 * (1 + 4) + 16 * (64 * 64 * 9 + 64 * 3 * 9)
    assert analytic_cost(preset("standard")).macs == per_lr_pixel * lr
    weights = 3 * 64 * 9 + 34 * 64 * 64 * 9 + 2 * 64 * 256 * 9 + 64 * 64 * 9 + 64 * 3 * 9
    biases = 64 + 34 * 64 + 2 * 256 + 64 + 3
    assert analytic_cost(preset("standard")).params == weights + biases == 1_591_427


def test_golden_table():
    golden = json.loads(GOLDEN.read_text())
    assert len(golden) == len(golden_cases())
    for backbone, name, upscale, blocks in golden_cases():
        spec = preset(name, backbone, upscale, blocks)
        cost = analytic_cost(spec)
        want = golden[case_key(backbone, name, upscale, blocks)]
        got = {
            "macs": cost.macs,
            "params": cost.params,
            "params_no_bias": cost.params_no_bias,
            "spec_hash": spec.spec_hash,
        }
        assert got == want, case_key(backbone, name, upscale, blocks)


def test_cost_scales_with_input_area():
    spec = preset("ms3-4branch")
    assert analytic_cost(spec, 64).macs * 4 == analytic_cost(spec, 128).macs


def test_lr_size_must_suit_the_coarsest_branch():
    assert check_lr_size(preset("ms3-4branch"), (16, 24)) == (16, 24)
    with pytest.raises(SpecError) as err:
        analytic_cost(preset("ms3-4branch"), 20)
    assert err.value.field == "lr_size"
    with pytest.raises(SpecError):
        analytic_cost(preset("ms3-4branch"), 4)
    assert analytic_cost(preset("standard"), 7).macs > 0
