"""Spec features and the sub-space predicate language."""

from __future__ import annotations

import pytest

from space import ArchSpec, SpecError, analytic_cost, entry_for, exit_for, preset
from space.choices import SpaceDef, UnitChoices
from space.features import (
    BOOLEAN_FEATURES,
    FEATURE_DOCS,
    FEATURE_NAMES,
    Predicate,
    compile_predicate,
    features,
    parse_subspaces,
)
from space.presets import ms3_unit, ms_unit

SHAPE = ("scales", "split", "low_share", "has_hl", "has_lh", "cross", "shared", "cross_kernel", "down", "up")
# name -> (scales, split, low_share, has_hl, has_lh, cross, shared, cross_kernel, down, up), on SRResNet
SRRESNET = {
    "standard": (1, "1", 0.0, False, False, "none", False, None, None, None),
    "ms": (2, "1:1", 0.5, False, False, "none", False, None, None, None),
    "ms2-no-lh": (2, "1:1", 0.5, True, False, "down", False, 3, "avgpool", None),
    "ms2-no-hl": (2, "1:1", 0.5, False, True, "up", False, 3, None, "nearest"),
    "ms2": (2, "1:1", 0.5, True, True, "both", False, 3, "avgpool", "nearest"),
    "ms3": (2, "1:1", 0.5, True, True, "both", True, 1, "avgpool", "nearest"),
    "ms3-l": (2, "1:1", 0.5, True, True, "both", True, 3, "avgpool", "nearest"),
    "ms3-3branch": (3, "1:1:1", 2 / 3, True, True, "both", True, 1, "avgpool", "nearest"),
    "ms3-4branch": (4, "1:1:1:1", 0.75, True, True, "both", True, 1, "avgpool", "nearest"),
    "octconv": (2, "3:1", 0.25, True, True, "both", False, 3, "avgpool", "nearest"),
    "mgconv": (3, "2:1:1", 0.5, True, True, "both", False, 3, "maxpool", "nearest"),
    "unet": (2, "1:1", 0.5, False, False, "none", False, None, None, None),
}
# CARN's 1x1 fusion layers: entries at "the layer's kernel" run as 3x3 and 1x1 there, hence "layer".
CARN_CROSS_KERNEL = {
    "ms2": "layer",
    "ms2-no-lh": "layer",
    "ms2-no-hl": "layer",
    "octconv": "layer",
    "mgconv": "layer",
    "ms3": 1,
}
CARN_CROSS_KERNEL |= {"ms3-l": 3, "ms3-3branch": 1, "ms3-4branch": 1}


@pytest.mark.parametrize("name", list(SRRESNET))
def test_features_of_presets_on_srresnet(name):
    spec = preset(name)
    feats = features(spec)
    assert tuple(feats) == FEATURE_NAMES
    assert tuple(feats[k] for k in SHAPE) == SRRESNET[name]
    cost = analytic_cost(spec)
    assert (feats["macs"], feats["params"]) == (cost.macs, cost.params)
    assert (feats["backbone"], feats["upscale"], feats["width"], feats["blocks"]) == ("srresnet", 4, 64, 16)
    assert feats["layerwise"] is (name == "unet")  # U-Net projects with 1x1 where the upsampler widens


@pytest.mark.parametrize("name", list(CARN_CROSS_KERNEL))
def test_cross_kernel_on_carn(name):
    feats = features(preset(name, "carn"))
    assert feats["cross_kernel"] == CARN_CROSS_KERNEL[name]
    others = [k for k in SHAPE if k != "cross_kernel"]
    assert [feats[k] for k in others] == [SRRESNET[name][SHAPE.index(k)] for k in others]
    assert (feats["backbone"], feats["blocks"], feats["layerwise"]) == ("carn", 3, False)


def test_entry_and_exit_are_not_the_body():
    """FirstConv/LastConv always resample, yet MS-Conv's body has no cross-scale path."""
    spec = preset("ms")
    assert any(spec.entry.direction(e) == "down" for e in spec.entry.edges)
    assert any(spec.exit.direction(e) == "up" for e in spec.exit.edges)
    assert features(spec)["cross"] == "none"


def test_layerwise_and_mixed_values():
    space = SpaceDef(unit=UnitChoices(paths=("both",), down=("avgpool", "maxpool"), cross_kernel=(1, 3)))
    n = space.converted_layers()
    base = {"scales": 2, "paths": "both", "shared": False, "low_share": 0.5}
    layers = [{"down": "maxpool", "cross_kernel": 3}] + [{"down": "avgpool", "cross_kernel": 1}] * (n - 1)
    feats = features(space.build(base, layers))
    assert feats["layerwise"] is True
    assert (feats["down"], feats["up"], feats["cross_kernel"]) == ("mixed", "nearest", "mixed")


def test_shared_needs_every_layer_tied():
    n = SpaceDef().converted_layers()
    units = (ms3_unit(),) * (n - 1) + (ms_unit(True, True),)
    spec = ArchSpec("srresnet", units, entry_for(units[0]), exit_for(units[0]))
    assert features(spec)["shared"] is False
    assert features(preset("ms3"))["shared"] is True


def test_every_feature_is_documented():
    assert set(FEATURE_DOCS) == set(FEATURE_NAMES)
    assert set(BOOLEAN_FEATURES) <= set(FEATURE_NAMES)
    assert all(FEATURE_DOCS[n] for n in FEATURE_NAMES)


# --- predicates --------------------------------------------------------------------------------------------------

FEATS = {n: None for n in FEATURE_NAMES} | {
    "scales": 2,
    "has_hl": True,
    "has_lh": False,
    "shared": True,
    "cross": "down",
    "cross_kernel": 1,
    "down": "avgpool",
    "macs": 17_000_000_000,
    "split": "1:1",
    "low_share": 0.5,
}


@pytest.mark.parametrize(
    ("text", "truth"),
    [
        ("shared", True),
        ("has_lh", False),
        ("not has_lh", True),
        ("has_hl and shared", True),
        ("has_hl and has_lh", False),
        ("has_lh or shared", True),
        ("has_lh or not shared", False),
        ("not (has_lh or not shared)", True),
        ("scales == 2 and cross_kernel == 1", True),
        ("scales != 2", False),
        ("down == 'avgpool'", True),
        ("up == None", True),
        ("up != None", False),
        ("macs < 20e9", True),
        ("macs >= 20e9", False),
        ("1 < scales <= 2", True),
        ("2 < scales <= 4", False),
        ("split in ('1:1', '3:1')", True),
        ("split not in ['1:1']", False),
        ("cross in ('down', 'both')", True),
        ("low_share > -1", True),
        ("True", True),
        ("False or shared", True),
        ("  shared  ", True),
    ],
)
def test_truth_table(text, truth):
    assert compile_predicate(text)(FEATS) is truth


def test_ordering_against_none_is_false():
    """Specs without cross paths have cross_kernel None; ordering them is False, not a crash."""
    feats = FEATS | {"cross_kernel": None}
    assert compile_predicate("cross_kernel <= 3")(feats) is False
    assert compile_predicate("cross_kernel > 3")(feats) is False
    assert compile_predicate("cross_kernel == None")(feats) is True


def test_predicates_are_values():
    pred = compile_predicate("shared")
    assert isinstance(pred, Predicate)
    assert pred == compile_predicate("shared")
    assert pred.text == "shared"
    with pytest.raises(AttributeError):
        pred.text = "has_hl"  # type: ignore[misc]


def test_missing_feature_at_evaluation():
    with pytest.raises(SpecError, match="'macs' missing"):
        compile_predicate("macs < 1")({"scales": 2})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", r"a call \(__import__\('os'\)\) is not allowed at column 1"),
        ("scales == len(split)", r"a call \(len\(split\)\) is not allowed at column 11"),
        ("down.upper() == 'X'", r"a call"),
        ("scales.real == 2", r"an attribute \(scales.real\) is not allowed at column 1"),
        ("split[0] == '1'", r"a subscript \(split\[0\]\) is not allowed"),
        ("macs * 2 < 1e9", r"arithmetic \(macs \* 2\) is not allowed"),
        ("-macs < 0", r"arithmetic \(-macs\) is not allowed"),
        ("scales + 1", r"arithmetic"),
        ("(lambda: 1)()", r"a call"),
        ("scales if shared else 0", r"a conditional expression"),
        ("(scales == 2) == True", r"a comparison used as a value"),
        ("scales in {1, 2}", r"a set"),
        ("shared == b'x'", r"the constant b'x' is not allowed"),
        ("(n := 2)", r"an assignment expression"),
        ("up is None", r"the operator 'is' is not allowed at column 1"),
        ("shared is not False", r"the operator 'is not' is not allowed"),
        ("depth == 16", r"unknown feature 'depth' at column 1 \(allowed: backbone, upscale"),
        ("shared and Shared", r"unknown feature 'Shared' at column 12"),
        ("scales", r"'scales' is not true/false at column 1; compare it, e.g. scales =="),
        ("cross", r"'cross' is not true/false"),
        ("'ms3'", r"a constant used as true/false \('ms3'\) is not allowed"),
        ("1", r"a constant used as true/false"),
        ("scales ==", r"is not an expression"),
        ("shared; import os", r"is not an expression"),
        ("", r"is empty"),
    ],
)
def test_rejections(text, message):
    with pytest.raises(SpecError, match=message) as err:
        compile_predicate(text)
    assert isinstance(err.value, ValueError)
    assert err.value.field == "predicate"


def test_unknown_name_lists_every_feature():
    with pytest.raises(SpecError) as err:
        compile_predicate("preset == 'ms3'")
    assert err.value.allowed == FEATURE_NAMES


# --- named sub-spaces --------------------------------------------------------------------------------------------


def test_parse_subspaces():
    subs = parse_subspaces(["ms3=shared and has_hl", "small = macs < 20e9", "ms2=cross == 'both'"])
    assert list(subs) == ["ms3", "small", "ms2"]
    assert subs["small"].text == "macs < 20e9"
    assert subs["ms2"](FEATS) is False
    assert subs["ms3"](FEATS) is True
    assert parse_subspaces([]) == {}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["shared and has_hl"], r"must read NAME=PREDICATE"),
        (["scales==2"], r"must read NAME=PREDICATE"),
        (["=shared"], r"the name must be a non-empty word"),
        (["  =shared"], r"the name must be a non-empty word"),
        (["my space=shared"], r"the name must be a non-empty word"),
        (["a=shared", "a=has_hl"], r"subspace a: named twice \('shared' and 'has_hl'\)"),
        (["a="], r"subspace a\.predicate: '' is empty"),
        (["a=depth > 1"], r"subspace a\.predicate: 'depth > 1': unknown feature 'depth'"),
    ],
)
def test_parse_subspaces_rejections(items, message):
    with pytest.raises(SpecError, match=message):
        parse_subspaces(items)


def test_paper_subspaces_select_their_variants():
    """The MS, MS2 and MS3 sub-spaces, as predicates, pick exactly their variant among Table 2's rows."""
    names = ["standard", "ms", "ms2-no-lh", "ms2-no-hl", "ms2", "ms3"]
    feats = {n: features(preset(n)) for n in names}
    subs = parse_subspaces(
        [
            "MS=not has_hl and not has_lh and scales == 2",
            "MS2=has_hl and has_lh and not shared",
            "MS3=shared and has_hl and has_lh",
        ]
    )
    chosen = {sub: [n for n in names if pred(feats[n])] for sub, pred in subs.items()}
    assert chosen == {"MS": ["ms"], "MS2": ["ms2"], "MS3": ["ms3"]}


def test_every_study_definition_sub_space_compiles_and_selects_something():
    from studies import STUDIES

    for name, study in STUDIES.items():
        points = [spec for _, spec in study.space.uniform_points()]
        for sub, text in study.subspaces.items():
            predicate = compile_predicate(text)
            if not study.space.layerwise:  # a layer-wise space's uniform points are a special case
                assert any(predicate(features(p)) for p in points), f"{name}: sub-space {sub} selects nothing"
