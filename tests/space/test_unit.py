"""Unit specs: validation names the field, normalisation makes equal units equal, JSON round-trips."""

from __future__ import annotations

import json

import pytest

from space import Branches, Edge, SpecError, UnitSpec, ms3_unit
from space.presets import mgconv_unit, ms_unit, octconv_unit


def test_defaults_fill_direction_specific_resampling():
    unit = UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1), Edge(0, 1), Edge(1, 0)])
    by_pair = {(e.src, e.dst): e for e in unit.edges}
    assert (by_pair[0, 1].resample, by_pair[0, 1].resample_first) == ("avgpool", True)
    assert (by_pair[1, 0].resample, by_pair[1, 0].resample_first) == ("nearest", False)
    assert (by_pair[0, 0].resample, by_pair[0, 0].resample_first) == ("none", False)


def test_edge_order_and_tie_names_do_not_matter():
    a = UnitSpec.square((1, 1), [Edge(0, 0, tie="x"), Edge(1, 1, tie="x"), Edge(1, 0, kernel=1), Edge(0, 1, kernel=1)])
    b = UnitSpec.square(
        (1, 1), [Edge(0, 1, kernel=1), Edge(1, 1, tie="W_IS"), Edge(1, 0, kernel=1), Edge(0, 0, tie="W_IS")]
    )
    assert a == b == ms3_unit()


def test_single_member_tie_is_dropped_and_explicit_channels_reduce_to_parts():
    a = UnitSpec.square((48, 16), [Edge(0, 0, tie="lonely"), Edge(1, 1)])
    b = UnitSpec.square((3, 1), [Edge(0, 0), Edge(1, 1)])
    assert a == b


def test_identity_ignores_kernel():
    a = UnitSpec.square((1, 1), [Edge(0, 0, "identity", kernel=5), Edge(1, 1)])
    b = UnitSpec.square((1, 1), [Edge(0, 0, "identity"), Edge(1, 1)])
    assert a == b


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1, kernel=7)]), "edges[1->1].kernel"),
        (
            lambda: UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1), Edge(0, 1, resample="nearest")]),
            "edges[0->1].resample",
        ),
        (
            lambda: UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1), Edge(1, 0, resample="avgpool")]),
            "edges[1->0].resample",
        ),
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0, resample="avgpool"), Edge(1, 1)]), "edges[0->0].resample"),
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1), Edge(0, 2)]), "edges[0->2].dst"),
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0)]), "edges"),
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1), Edge(0, 0)]), "edges"),
        (lambda: UnitSpec.square((3, 1), [Edge(0, 0, tie="w"), Edge(1, 1, tie="w")]), "edges.tie"),
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0, kernel=3, tie="w"), Edge(1, 1, kernel=1, tie="w")]), "edges.tie"),
        (lambda: UnitSpec.square((1,) * 5, [Edge(i, i) for i in range(5)]), "split"),
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1)], levels=(0, 4)), "levels"),
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0, "identity", tie="w"), Edge(1, 1)]), "edges[0->0].tie"),
        (
            lambda: UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1), Edge(1, 0, "identity", resample="pixelshuffle")]),
            "edges[1->0].resample",
        ),
        (lambda: UnitSpec.square((1, 1), [Edge(0, 0, op="deconv"), Edge(1, 1)]), "edges[0->0].op"),  # type: ignore[arg-type]
    ],
)
def test_bad_units_name_the_field(make, field):
    with pytest.raises(SpecError) as err:
        make()
    assert err.value.field == field


def test_error_lists_allowed_values():
    with pytest.raises(SpecError, match=r"allowed: nearest, bilinear, pixelshuffle"):
        UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1), Edge(1, 0, resample="maxpool")])


@pytest.mark.parametrize("unit", [ms3_unit(), ms3_unit(4), ms_unit(True, True), octconv_unit(0.125), mgconv_unit()])
def test_json_round_trip_is_exact(unit):
    text = json.dumps(unit.to_dict())
    again = UnitSpec.from_dict(json.loads(text))
    assert again == unit
    assert json.dumps(again.to_dict()) == text


def test_from_dict_accepts_ratio_split_and_reports_paths():
    unit = UnitSpec.from_dict({"split": [0.75, 0.25], "edges": [{"src": 0, "dst": 0}, {"src": 1, "dst": 1}]})
    assert unit.inputs == Branches((3, 1), (0, 1))
    with pytest.raises(SpecError) as err:
        UnitSpec.from_dict({"split": [1, 1], "edges": [{"src": 0, "dst": 0, "colour": 1}]}, "units[2]")
    assert err.value.field == "units[2].edges[0].colour"
    with pytest.raises(SpecError) as err:
        UnitSpec.from_dict({"split": [1, 1], "edges": [{"src": 0, "dst": 0}]}, "units[2]")
    assert err.value.field == "units[2].edges"


def test_branches_at_one_level_allow_only_plain_entries():
    unit = UnitSpec.square((1, 1), [Edge(s, d) for s in range(2) for d in range(2)], levels=(0, 0))
    assert all(unit.direction(e) == "same" and e.resample == "none" for e in unit.edges)
