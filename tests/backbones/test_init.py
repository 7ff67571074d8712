"""A multi-scale unit starts like one conv: its entries draw with the summed fan-in of their branch."""

from __future__ import annotations

import torch

from backbones import MSConvUnit, conv_unit
from space import ConvSite, Edge, UnitSpec, ms3_unit
from space.presets import ms_unit, octconv_unit

SITE = ConvSite("probe", 64, 64, 3)


def bounds(unit: UnitSpec) -> dict[tuple[int, int], tuple[float, float]]:
    """Per entry (src, dst): the largest |weight| and |bias| drawn."""
    torch.manual_seed(0)
    module = conv_unit(unit, SITE)
    assert isinstance(module, MSConvUnit)
    out = {}
    for src, dst in module.entries:
        w, b = module.entry_weight(src, dst)
        out[(src, dst)] = (float(w.abs().max()), float(b.abs().max()))
    return out


def test_ms3_entries_draw_with_the_fan_in_of_the_intra_and_the_cross_entry_together():
    # each branch of MS3 at 64 channels: 32 channels through the shared 3x3 plus 32 through the 1x1 cross path
    fan_in = 32 * 9 + 32 * 1
    for (src, dst), (w, b) in bounds(ms3_unit()).items():
        assert w <= fan_in**-0.5 and b <= fan_in**-0.5, (src, dst)
        assert w > 0.97 * fan_in**-0.5, (src, dst)  # 9216 or 1024 draws from U(-B, B) reach close to B


def test_a_unit_whose_branches_each_read_one_entry_keeps_pytorchs_own_draw():
    for unit in (ms_unit(), UnitSpec.square((1,), [Edge(0, 0)])):
        torch.manual_seed(0)
        module = conv_unit(unit, SITE)
        torch.manual_seed(0)
        plain = {name: torch.nn.Conv2d(c.in_channels, c.out_channels, 3, padding=1) for name, c in _convs(module)}
        for name, conv in _convs(module):
            mine, theirs = conv.bias, plain[name].bias
            assert mine is not None and theirs is not None
            assert torch.equal(conv.weight, plain[name].weight) and torch.equal(mine, theirs)


def test_octconv_branches_with_unequal_fan_in_get_their_own_bounds():
    # alpha 0.25 at 64 channels: high branch 48, low branch 16; each output branch reads both
    fan_in = 48 * 9 + 16 * 9  # the same for both output branches: every entry is a 3x3 conv
    for w, b in bounds(octconv_unit(0.25)).values():
        assert w <= fan_in**-0.5 and b <= fan_in**-0.5


def test_the_units_output_has_about_a_standard_convs_variance():
    torch.manual_seed(1)
    x = torch.randn(8, 64, 32, 32)
    standard = torch.nn.Conv2d(64, 64, 3, padding=1)
    ms3 = conv_unit(ms3_unit(), SITE)
    high, low = x[:, :32], torch.nn.functional.avg_pool2d(x[:, 32:], 2) * 2  # unit variance at both scales
    with torch.no_grad():
        ref = standard(x).var().item()
        ratio = [y.var().item() / ref for y in ms3((high, low))]
    assert all(0.8 < r < 1.25 for r in ratio), ratio


def _convs(module: torch.nn.Module) -> list[tuple[str, torch.nn.Conv2d]]:
    return [(n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.Conv2d)]
