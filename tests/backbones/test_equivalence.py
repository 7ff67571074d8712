"""Exact float64 checks of the identities the paper builds on (Fig. 2(a), Sec. 3.3 / Fig. 4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from backbones import MSConvUnit, SingleConv, conv_unit, resample
from space import STANDARD_UNIT, ConvSite, Edge, UnitSpec, ms3_unit

SITE = ConvSite("probe", 64, 64, 3)


@pytest.fixture(autouse=True)
def float64() -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def nearest_down(x: torch.Tensor) -> torch.Tensor:
    """D2: keep every second pixel (nearest-neighbour downsampling by 2)."""
    return x[..., ::2, ::2]


def test_standard_conv_is_a_two_by_two_block_of_half_convs():
    """Fig. 2(a): with both branches at one scale, the unit is the standard conv unfolded."""
    torch.manual_seed(0)
    standard = torch.nn.Conv2d(64, 64, 3, padding=1)
    assert standard.bias is not None
    unit = UnitSpec.square((1, 1), [Edge(s, d) for s in range(2) for d in range(2)], levels=(0, 0))
    block = conv_unit(unit, SITE)
    assert isinstance(block, MSConvUnit)
    with torch.no_grad():
        for src in range(2):
            for dst in range(2):
                weight, bias = block.entry_weight(src, dst)
                weight.copy_(standard.weight[32 * dst : 32 * dst + 32, 32 * src : 32 * src + 32])
                bias.copy_(standard.bias[32 * dst : 32 * dst + 32] if src == 0 else torch.zeros(32))
    x = torch.randn(2, 64, 12, 10)
    y_high, y_low = block((x[:, :32], x[:, 32:]))
    expected = standard(x)
    torch.testing.assert_close(torch.cat([y_high, y_low], 1), expected, rtol=0, atol=1e-12)


def test_nearest_down_conv_up_equals_dilated_conv_then_down_up():
    """Sec. 3.3: D2 - W(d=1) - U2 == W(d=2) - D2 - U2."""
    torch.manual_seed(1)
    x, w = torch.randn(2, 8, 16, 20), torch.randn(8, 8, 3, 3)
    lhs = resample(F.conv2d(nearest_down(x), w, padding=1), "nearest", 1)
    rhs = resample(nearest_down(F.conv2d(x, w, padding=2, dilation=2)), "nearest", 1)
    torch.testing.assert_close(lhs, rhs, rtol=0, atol=1e-12)


def test_avgpool_conv_up_equals_stride_one_pool_dilated_conv_down_up():
    """Sec. 3.3: Pool(s=2) - W - U2 == Pool(s=1) - W(d=2) - D2 - U2 (pooling as a low-pass filter)."""
    torch.manual_seed(2)
    x, w = torch.randn(2, 8, 16, 20), torch.randn(8, 8, 3, 3)
    lhs = resample(F.conv2d(resample(x, "avgpool", 1), w, padding=1), "nearest", 1)
    pooled = F.avg_pool2d(x, 2, stride=1)
    rhs = resample(nearest_down(F.conv2d(pooled, w, padding=2, dilation=2)), "nearest", 1)
    torch.testing.assert_close(lhs, rhs, rtol=0, atol=1e-12)


def test_pool_and_one_by_one_conv_commute():
    """Why W_HL o avgpool may run at the coarse scale: a 1x1 conv and average pooling commute."""
    torch.manual_seed(3)
    x, w = torch.randn(1, 8, 16, 16), torch.randn(4, 8, 1, 1)
    torch.testing.assert_close(F.conv2d(F.avg_pool2d(x, 2), w), F.avg_pool2d(F.conv2d(x, w), 2), rtol=0, atol=1e-12)


def test_ms3_intra_scale_weight_is_one_tensor():
    """Eqn 5: f_HH = f_LL = W_IS is a single parameter, counted once and trained by both scales."""
    torch.manual_seed(4)
    unit = conv_unit(ms3_unit(), SITE)
    assert isinstance(unit, MSConvUnit)
    w_hh, b_hh = unit.entry_weight(0, 0)
    w_ll, b_ll = unit.entry_weight(1, 1)
    assert w_hh.data_ptr() == w_ll.data_ptr() and b_hh.data_ptr() == b_ll.data_ptr()
    assert sum(p.numel() for p in unit.parameters()) == (32 * 32 * 9 + 32) + 2 * (32 * 32 + 32)

    x_h, x_l = torch.randn(2, 32, 8, 8), torch.randn(2, 32, 4, 4)
    y_h, y_l = unit((x_h, x_l))
    (y_h.square().sum() + y_l.sum()).backward()
    shared = next(p for p in unit.parameters() if p.shape == (32, 32, 3, 3))
    # The same weight applied as two independent convs: its gradient is the sum of both scales' gradients.
    w = shared.detach().clone().requires_grad_(True)
    w_lh, b_lh = (t.detach() for t in unit.entry_weight(1, 0))
    w_hl, b_hl = (t.detach() for t in unit.entry_weight(0, 1))
    b = b_hh.detach()
    ref_h = F.conv2d(x_h, w, b, padding=1) + resample(F.conv2d(x_l, w_lh, b_lh), "nearest", 1)
    ref_l = F.conv2d(x_l, w, b, padding=1) + F.conv2d(resample(x_h, "avgpool", 1), w_hl, b_hl)
    torch.testing.assert_close(torch.cat([y_h.flatten(), y_l.flatten()]), torch.cat([ref_h.flatten(), ref_l.flatten()]))
    (ref_h.square().sum() + ref_l.sum()).backward()
    assert shared.grad is not None and w.grad is not None
    torch.testing.assert_close(shared.grad, w.grad)


def test_fused_entries_compute_what_separate_convs_compute():
    """MS2's low branch feeds W_LL and W_LH through one conv call; the result equals two separate convs."""
    torch.manual_seed(5)
    unit = conv_unit(UnitSpec.square((1, 1), [Edge(0, 0), Edge(1, 1), Edge(0, 1), Edge(1, 0)]), SITE)
    assert isinstance(unit, MSConvUnit)
    x_h, x_l = torch.randn(1, 32, 8, 8), torch.randn(1, 32, 4, 4)
    y_h, y_l = unit((x_h, x_l))

    def entry(src: int, dst: int, x: torch.Tensor) -> torch.Tensor:
        w, b = unit.entry_weight(src, dst)
        return F.conv2d(x, w, b, padding=1)

    torch.testing.assert_close(y_h, entry(0, 0, x_h) + resample(entry(1, 0, x_l), "nearest", 1))
    torch.testing.assert_close(y_l, entry(1, 1, x_l) + entry(0, 1, resample(x_h, "avgpool", 1)))


@pytest.mark.parametrize("kernel", [3, 1])
def test_a_conv_to_three_channels_folded_into_two_by_two_blocks_is_the_same_conv(kernel):
    """In inference mode the CPU runs conv_last as a stride-2 conv computing 2x2 output pixels per position."""
    torch.manual_seed(6)
    conv = conv_unit(STANDARD_UNIT, ConvSite("conv_last", 16, 3, kernel))
    assert isinstance(conv, SingleConv)
    x = torch.randn(2, 16, 10, 14).contiguous(memory_format=torch.channels_last)
    plain = conv((x,))[0]
    with torch.inference_mode():
        assert conv._folds(x)
        folded = conv((x,))[0]
    torch.testing.assert_close(folded, plain, rtol=0, atol=1e-12)


def test_the_folded_weights_follow_the_conv_weights():
    """After an optimiser step (an in-place change of the weights) the folded conv uses the new weights."""
    torch.manual_seed(7)
    conv = conv_unit(STANDARD_UNIT, ConvSite("conv_last", 8, 3, 3))
    assert isinstance(conv, SingleConv)
    x = torch.randn(1, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        before = conv((x,))[0]
    with torch.no_grad():
        conv.conv.weight.mul_(2)
    with torch.inference_mode():
        after = conv((x,))[0]
    torch.testing.assert_close(after, conv((x,))[0], rtol=0, atol=1e-12)
    assert not torch.allclose(after, before)


def test_odd_sides_wide_outputs_nchw_and_counting_use_the_plain_conv():
    conv3 = conv_unit(STANDARD_UNIT, ConvSite("conv_last", 8, 3, 3))
    conv16 = conv_unit(STANDARD_UNIT, ConvSite("probe", 8, 16, 3))
    assert isinstance(conv3, SingleConv) and isinstance(conv16, SingleConv)

    def channels_last(h: int, w: int) -> torch.Tensor:
        return torch.randn(1, 8, h, w).contiguous(memory_format=torch.channels_last)

    with torch.inference_mode():
        assert conv3._folds(channels_last(6, 6))
        assert not conv3._folds(channels_last(7, 6))
        assert not conv3._folds(torch.randn(1, 8, 6, 6))  # NCHW
        assert not conv16._folds(channels_last(6, 6))
    with torch.no_grad():  # what fvcore, ptflops and the memory count run under
        assert not conv3._folds(channels_last(6, 6))
