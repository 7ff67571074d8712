"""Architecture specs: validation, canonical form, hash identity, JSON round trip, load_spec."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from space import PRESETS, ArchSpec, Edge, SpecError, UnitSpec, entry_for, exit_for, load_spec, ms3_unit, preset
from space.layout import UPSCALES


def every_preset():
    return [(name, backbone) for name in PRESETS for backbone in ("srresnet", "carn")]


@pytest.mark.parametrize(("name", "backbone"), every_preset())
def test_round_trip_through_json_is_exact(name, backbone):
    spec = preset(name, backbone)
    text = spec.to_json()
    again = load_spec(text)
    assert again == spec
    assert again.to_json() == text
    assert again.spec_hash == spec.spec_hash


def test_presets_are_distinct_networks():
    hashes = {(b, n): preset(n, b).spec_hash for n, b in every_preset()}
    for backbone in ("srresnet", "carn"):
        mine = [h for (b, _), h in hashes.items() if b == backbone]
        assert len(set(mine)) == len(mine)


def test_layer_kernel_written_out_or_not_is_one_network():
    explicit = UnitSpec.square(
        (1, 1),
        [Edge(0, 0, kernel=3, tie="w"), Edge(1, 1, kernel=3, tie="w"), Edge(0, 1, kernel=1), Edge(1, 0, kernel=1)],
    )
    a = ArchSpec("srresnet", (explicit,), entry_for(explicit), exit_for(explicit))
    b = preset("ms3")
    assert a.spec_hash == b.spec_hash
    assert a == b  # the canonical form writes the layer's own kernel as null


def test_explicit_kernel_on_carn_is_a_different_network():
    explicit = UnitSpec.square(
        (1, 1),
        [Edge(0, 0, kernel=3, tie="w"), Edge(1, 1, kernel=3, tie="w"), Edge(0, 1, kernel=1), Edge(1, 0, kernel=1)],
    )
    a = ArchSpec("carn", (explicit,), entry_for(explicit), exit_for(explicit))
    assert a.spec_hash != preset("ms3", "carn").spec_hash  # the 1x1 fusion layers become 3x3


def test_per_layer_list_of_one_unit_collapses():
    spec = preset("ms3")
    per_layer = replace(spec, units=(ms3_unit(),) * len(spec.inner_sites))
    assert per_layer == spec
    assert per_layer.spec_hash == spec.spec_hash


def test_per_layer_units_change_the_hash_and_round_trip():
    spec = preset("ms3")
    units = [ms3_unit()] * len(spec.inner_sites)
    units[5] = ms3_unit(cross_kernel=3)
    mixed = replace(spec, units=tuple(units))
    assert len(mixed.units) == len(spec.inner_sites)
    assert mixed.spec_hash != spec.spec_hash
    assert load_spec(mixed.to_json()) == mixed


def test_unit_shorthand_derives_entry_and_exit():
    data = {"backbone": "srresnet", "unit": ms3_unit().to_dict()}
    assert load_spec(json.dumps(data)) == preset("ms3")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"backbone": "vdsr"}, "backbone"),
        ({"upscale": 8}, "upscale"),
        ({"width": 0}, "width"),
        ({"blocks": -1}, "blocks"),
        ({"last": "conv_first"}, "last"),
        ({"first": "body.0.conv1"}, "first"),
        ({"width": 66, "region_width": 66}, "split (site conv_first, 66 output channels)"),
        ({"colour": "red"}, "colour"),
        ({"units": []}, "units"),
    ],
)
def test_bad_specs_name_the_field(change, field):
    data = {**preset("octconv").to_dict(), **change}  # octconv splits 3:1, which 66 channels defeat
    with pytest.raises(SpecError) as err:
        ArchSpec.from_dict(data)
    assert err.value.field == field


def test_units_must_share_branches_with_entry_and_exit():
    spec = preset("ms3")
    with pytest.raises(SpecError) as err:
        replace(spec, exit=exit_for(ms3_unit(3)))
    assert err.value.field == "exit"
    with pytest.raises(SpecError) as err:
        replace(spec, units=(ms3_unit(), ms3_unit(3)) + (ms3_unit(),) * (len(spec.inner_sites) - 2))
    assert err.value.field == "units[1]"


def test_identity_needs_equal_widths():
    unit = UnitSpec.square((1, 1), [Edge(0, 0, "identity"), Edge(1, 1)])
    with pytest.raises(SpecError, match="identity needs equal channels"):
        ArchSpec("srresnet", (unit,), entry_for(unit), exit_for(unit))


def test_load_spec_errors_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec(bad)
    good = tmp_path / "ms3.json"
    good.write_text(preset("ms3", "carn", 3).to_json())
    assert load_spec(good) == preset("ms3", "carn", 3)


@pytest.mark.parametrize("upscale", UPSCALES)
def test_every_upscale_has_its_upsampler(upscale):
    names = [s.name for s in preset("ms3", upscale=upscale).layout.sites if s.name.startswith("up.")]
    assert len(names) == {2: 1, 3: 1, 4: 2}[upscale]


def test_resized_keeps_the_design():
    small = preset("ms3-3branch").resized(width=32, blocks=4)
    assert (small.width, small.region_width, small.blocks) == (32, 48, 4)
    assert small.units == preset("ms3-3branch").units
    assert preset("ms3").resized(blocks=46) == preset("ms3", blocks=46)
    layerwise = replace(preset("ms3"), units=(ms3_unit(),) * 35 + (ms3_unit(cross_kernel=3),))
    with pytest.raises(SpecError) as err:
        layerwise.resized(blocks=4)
    assert err.value.field == "blocks"
    assert layerwise.resized(width=32).width == 32
