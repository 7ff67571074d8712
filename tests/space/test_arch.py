"""Architecture specs: validation, canonical form, hash identity, JSON round trip, load_spec."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from space import PRESETS, ArchSpec, Edge, SpecError, UnitSpec, entry_for, exit_for, load_spec, ms3_unit, preset
from space.arch import kept_blocks
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
    assert layerwise.resized(width=32).width == 32


def test_a_layerwise_spec_at_fewer_blocks_keeps_evenly_spaced_blocks():
    assert kept_blocks(16, 2) == (0, 15) and kept_blocks(16, 4) == (0, 5, 10, 15) and kept_blocks(16, 1) == (8,)
    spec = preset("ms3")
    names = [site.name for site in spec.inner_sites]
    units = [ms3_unit(cross_kernel=1 + 2 * (i % 3)) for i in range(len(names))]  # 1x1, 3x3, 5x5 in turn
    layerwise = replace(spec, units=tuple(units))
    small = layerwise.resized(blocks=2)
    assert small.blocks == 2 and small.layout == preset("ms3", blocks=2).layout
    by_name = dict(zip(names, units, strict=True))
    kept = {"body.0": "body.0", "body.1": "body.15"}  # block 1 of 2 is block 15 of 16
    for site, unit in zip(small.inner_sites, small.units, strict=True):
        block = ".".join(site.name.split(".")[:2])
        assert unit == by_name[site.name.replace(block, kept[block]) if block in kept else site.name]
    first = layerwise.resized(blocks=2, kept=(0, 1))  # another rule, for benchmarks.layerwise_depth
    assert first.units == (*units[:4], *units[-4:])  # blocks 0 and 1, then the trunk convs and the upsampler
    with pytest.raises(SpecError, match="kept blocks"):
        layerwise.resized(blocks=2, kept=(0, 16))
    carn = preset("ms3", "carn")
    carn_units = tuple(ms3_unit(cross_kernel=3 if i % 2 else 1) for i in range(len(carn.inner_sites)))
    small_carn = replace(carn, units=carn_units).resized(blocks=2)  # 3 -> 2 blocks keeps blocks 0 and 2
    carn_by_name = dict(zip((site.name for site in carn.inner_sites), carn_units, strict=True))
    for site, unit in zip(small_carn.inner_sites, small_carn.units, strict=True):
        source = (
            site.name.replace("b1.", "b2.") if site.name.startswith("b1.") else {"c1": "c2"}.get(site.name, site.name)
        )
        assert unit == carn_by_name[source]


def resampled(unit: UnitSpec, direction: str, op: str) -> UnitSpec:
    """The unit with its cross-scale edges of one direction resampled by ``op``."""
    edges = tuple(replace(e, resample=op) if unit.direction(e) == direction else e for e in unit.edges)
    return replace(unit, edges=edges)


def twin_pairs() -> list[tuple[str, ArchSpec, ArchSpec]]:
    """Pairs of specs that differ in exactly one field of ArchSpec."""
    ms3, branches = preset("ms3", upscale=2, blocks=2), preset("ms3-3branch", upscale=2, blocks=2)
    narrow = replace(branches, region_width=48)
    return [
        ("backbone", ms3, preset("ms3", "carn", upscale=2, blocks=2)),
        ("units", ms3, replace(ms3, units=(ms3_unit(cross_kernel=3),))),
        ("entry", ms3, replace(ms3, entry=resampled(ms3.entry, "down", "strided"))),
        ("exit", ms3, replace(ms3, exit=resampled(ms3.exit, "up", "pixelshuffle"))),
        ("upscale", ms3, preset("ms3", upscale=3, blocks=2)),
        ("width", ms3, preset("ms3", upscale=2, blocks=2, width=32)),
        ("blocks", ms3, preset("ms3", upscale=2, blocks=3)),
        ("last", ms3, replace(ms3, last="conv_last")),
        ("region_width", branches, narrow),
    ]


@pytest.mark.parametrize(("field", "a", "b"), twin_pairs(), ids=[p[0] for p in twin_pairs()])
def test_every_field_that_changes_the_network_changes_the_hash(field, a, b):
    from backbones import build_model

    assert getattr(a, field) != getattr(b, field)
    assert a.spec_hash != b.spec_hash
    model_a, model_b = build_model(a).eval(), build_model(b).eval()
    shapes_a = {k: tuple(v.shape) for k, v in model_a.state_dict().items()}
    shapes_b = {k: tuple(v.shape) for k, v in model_b.state_dict().items()}
    if shapes_a == shapes_b:  # the same parameters (another resampling): then the same weights compute otherwise
        model_b.load_state_dict(model_a.state_dict())
        x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert not torch.allclose(model_a(x), model_b(x))


def test_equal_hashes_build_identical_models():
    from backbones import build_model

    explicit = replace(preset("ms3", upscale=2, blocks=2), units=(ms3_unit(),) * 7)  # per-layer list of one unit
    a, b = explicit, preset("ms3", upscale=2, blocks=2)
    assert a.spec_hash == b.spec_hash
    torch.manual_seed(0)
    model_a = build_model(a).eval()
    torch.manual_seed(0)
    model_b = build_model(b).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model_a(x), model_b(x))
