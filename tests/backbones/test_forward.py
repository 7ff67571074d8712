"""Every preset on every backbone and upscale: it builds, runs, and its conv count is the analytic one."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from backbones import build_model
from nas.measure.counting import fvcore_counts
from space import PRESETS, analytic_cost, preset
from space.layout import UPSCALES

BACKBONES = ("srresnet", "carn")


@pytest.mark.parametrize("upscale", UPSCALES)
@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("name", list(PRESETS))
def test_forward_shape_and_finite(name, backbone, upscale):
    torch.manual_seed(0)
    model = build_model(preset(name, backbone, upscale, blocks=1)).eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, 16 * upscale, 16 * upscale)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_any_input_size_works(backbone):
    """Sizes the coarsest branch does not divide are padded and cropped back."""
    model = build_model(preset("ms3-4branch", backbone, 3, blocks=1)).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, 13, 11))
    assert y.shape == (1, 3, 39, 33)


def test_bad_input_is_a_clear_error():
    model = build_model(preset("ms3", blocks=1))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        model(torch.rand(1, 1, 16, 16))


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("name", list(PRESETS))
def test_analytic_count_equals_fvcore(name, backbone):
    spec = preset(name, backbone, 4, blocks=2)
    model = build_model(spec).eval()
    with torch.no_grad():
        conv, _ = fvcore_counts(model, torch.rand(1, 3, 32, 32))
    cost = analytic_cost(spec, 32)
    assert conv == cost.macs
    assert sum(p.numel() for p in model.parameters()) == cost.params


@pytest.mark.slow
def test_full_size_ms3_matches_fvcore_at_the_paper_input():
    spec = preset("ms3")
    with torch.no_grad():
        conv, total = fvcore_counts(build_model(spec).eval(), torch.rand(1, 3, 128, 128))
    assert conv == analytic_cost(spec).macs == 17_155_620_864
    assert total >= conv


def test_build_model_is_pure():
    """Same spec, same seed: the same weights; the spec object is untouched."""
    spec = preset("ms3", "carn", 2, blocks=1)
    before = spec.to_json()
    torch.manual_seed(7)
    a = build_model(spec).state_dict()
    torch.manual_seed(7)
    b = build_model(spec).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert spec.to_json() == before


def test_channels_last_gives_the_same_output():
    torch.manual_seed(0)
    model = build_model(preset("ms2", blocks=1)).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        out = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_lastconv_site_builds_and_counts(backbone):
    """The multi-scale region may end at any upsampling conv, conv_hr, or the output conv."""
    base = preset("ms3", backbone, 4, blocks=1)
    for last in base.layout.exits:
        spec = replace(base, last=last)
        model = build_model(spec).eval()
        with torch.no_grad():
            y = model(torch.rand(1, 3, 16, 16))
            conv, _ = fvcore_counts(model, torch.rand(1, 3, 16, 16))
        assert y.shape == (1, 3, 64, 64)
        assert conv == analytic_cost(spec, 16).macs
