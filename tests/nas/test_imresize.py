"""MATLAB-style bicubic imresize: shapes, invariants, torch == numpy, and the interior against PyTorch's own."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.sr.imresize import contributions, cubic, imresize_np, imresize_torch, mirror

SCALES = (1 / 2, 1 / 3, 1 / 4, 2, 3, 4)
SIZES = ((37, 53), (64, 48), (17, 9), (5, 3), (1, 1), (12, 12))


def test_cubic_kernel_values():
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])
    np.testing.assert_allclose(cubic(x), [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625])


def test_mirror_repeats_the_edge_pixel():
    assert mirror(np.arange(-3, 8), 4).tolist() == [2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0]


@pytest.mark.parametrize("scale", SCALES)
def test_weights_sum_to_one(scale):
    weights, idx = contributions(20, math.ceil(20 * scale - 1e-9), float(scale))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert idx.min() >= 0 and idx.max() < 20


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("h", "w"), [(36, 24), (25, 31), (7, 1)])
def test_output_size_is_ceil(scale, h, w):
    out = imresize_np(np.zeros((h, w, 3)), scale)
    assert out.shape == (math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9), 3)


def test_one_third_of_a_multiple_of_three_is_exact():
    assert imresize_np(np.zeros((255, 255)), 1 / 3).shape == (85, 85)


@pytest.mark.parametrize("scale", SCALES)
def test_constant_image_stays_constant(scale):
    out = imresize_np(np.full((23, 17, 3), 0.37), scale)
    np.testing.assert_allclose(out, 0.37, atol=1e-12)


def test_grey_and_colour_agree_per_channel():
    rng = np.random.default_rng(1)
    img = rng.random((20, 30, 3))
    colour = imresize_np(img, 1 / 2)
    np.testing.assert_allclose(colour[..., 1], imresize_np(img[..., 1], 1 / 2), atol=1e-15)


def test_scale_one_is_identity():
    img = np.random.default_rng(2).random((15, 11))
    np.testing.assert_allclose(imresize_np(img, 1), img, atol=1e-14)


def test_down_of_a_pixel_replicated_image_gives_it_back():
    """Each pixel repeated 2x2, then halved: the antialiased kernel is symmetric about the block centre."""
    small = np.random.default_rng(3).random((8, 8))
    big = np.kron(small, np.ones((2, 2)))
    out = imresize_np(big, 1 / 2)
    assert out.shape == small.shape
    assert np.abs(out - small).max() < 0.2  # smoothed, not equal: the kernel is 8 pixels wide
    assert np.corrcoef(out.ravel(), small.ravel())[0, 1] > 0.9


def test_linear_ramp_is_preserved_inside():
    """Keys' cubic reproduces linear functions exactly, away from the mirrored border."""
    ramp = np.tile(np.arange(40, dtype=np.float64), (6, 1))
    out = imresize_np(ramp, 2)
    expected = (np.arange(80) + 0.5) / 2 - 0.5  # the input coordinate of each output pixel
    np.testing.assert_allclose(out[:, 4:-4], np.tile(expected, (12, 1))[:, 4:-4], atol=1e-12)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("h", "w"), SIZES)
def test_torch_equals_numpy(scale, h, w):
    rng = np.random.default_rng(h * 100 + w)
    batch = rng.random((2, 3, h, w))
    out = imresize_torch(torch.from_numpy(batch), scale).numpy()
    for n in range(2):
        ref = imresize_np(batch[n].transpose(1, 2, 0), scale).transpose(2, 0, 1)
        assert out[n].shape == ref.shape
        assert np.abs(out[n] - ref).max() < 1e-6


def test_torch_keeps_dtype():
    x = torch.rand(1, 3, 16, 16, dtype=torch.float32)
    out = imresize_torch(x, 1 / 2)
    assert out.dtype == torch.float32 and out.shape == (1, 3, 8, 8)
    ref = imresize_torch(x.double(), 1 / 2)
    assert (out.double() - ref).abs().max() < 1e-5


@pytest.mark.parametrize("scale", [1 / 2, 1 / 4, 2, 4])
def test_interior_matches_pytorch_antialiased_bicubic(scale):
    """An independent implementation: PyTorch's kernel agrees away from the border (which it clamps, MATLAB mirrors)."""
    x = torch.from_numpy(np.random.default_rng(4).random((1, 1, 64, 64)))
    ours = imresize_torch(x, scale)[0, 0]
    theirs = F.interpolate(x, scale_factor=scale, mode="bicubic", antialias=True, align_corners=False)[0, 0]
    m = ours.shape[0] // 4
    assert (ours[m:-m, m:-m] - theirs[m:-m, m:-m]).abs().max() < 1e-12
    assert (ours - theirs).abs().max() > 1e-3  # the borders do differ: the point of mirroring


@pytest.mark.parametrize("scale", [0, -0.5, float("nan"), float("inf"), True])
def test_bad_scale_raises(scale):
    with pytest.raises(ValueError, match="scale"):
        imresize_np(np.zeros((4, 4)), scale)
    with pytest.raises(ValueError, match="scale"):
        imresize_torch(torch.zeros(1, 1, 4, 4), scale)


@pytest.mark.parametrize("shape", [(0, 4), (4, 0, 3), (4,), (2, 2, 2, 2)])
def test_bad_numpy_image_raises(shape):
    with pytest.raises(ValueError, match="image"):
        imresize_np(np.zeros(shape), 2)


@pytest.mark.parametrize("shape", [(1, 3, 0, 4), (3, 4, 4), (0, 3, 4, 4)])
def test_bad_torch_image_raises(shape):
    with pytest.raises(ValueError):
        imresize_torch(torch.zeros(shape), 2)


def test_torch_rejects_integer_tensors():
    with pytest.raises(ValueError, match="floating"):
        imresize_torch(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), 2)
