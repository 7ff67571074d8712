"""The SR protocol: hand-checkable metric values, and bicubic on Set5/Set14 against the published numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nas.sr.evaluation import evaluate_folder
from nas.sr.metrics import gaussian_window, modcrop, psnr, quantize, rgb_to_y, sr_metrics, ssim

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# Published bicubic PSNR/SSIM (Y, border = scale), e.g. SRCNN / VDSR / EDSR tables.
PUBLISHED = {
    ("Set5", 2): (33.66, 0.9299),
    ("Set5", 3): (30.39, 0.8682),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688),
    ("Set14", 3): (27.55, 0.7742),
    ("Set14", 4): (26.00, 0.7027),
}
PSNR_TOL, SSIM_TOL = 0.03, 0.002


@pytest.mark.parametrize(
    ("shape", "scale", "expected"), [((13, 10, 3), 4, (12, 8, 3)), ((9, 9), 3, (9, 9)), ((5, 7), 2, (4, 6))]
)
def test_modcrop_sizes(shape, scale, expected):
    assert modcrop(np.zeros(shape), scale).shape == expected


def test_modcrop_keeps_the_top_left():
    img = np.arange(35).reshape(5, 7)
    np.testing.assert_array_equal(modcrop(img, 2), img[:4, :6])


@pytest.mark.parametrize(
    ("rgb", "y"),
    [
        ((0, 0, 0), 16.0),
        ((1, 1, 1), 235.0),
        ((1, 0, 0), 16 + 65.481),
        ((0, 1, 0), 16 + 128.553),
        ((0, 0, 1), 16 + 24.966),
    ],
)
def test_rgb_to_y_on_pure_colours(rgb, y):
    img = np.broadcast_to(np.array(rgb, dtype=np.float64), (2, 3, 3))
    np.testing.assert_allclose(rgb_to_y(img), y, atol=1e-12)


def test_grey_is_not_converted():
    np.testing.assert_allclose(rgb_to_y(np.full((2, 2), 0.5)), 127.5)


def test_rgb_to_y_rejects_other_shapes():
    with pytest.raises(ValueError, match="HxW"):
        rgb_to_y(np.zeros((2, 2, 4)))


def test_psnr_of_known_mse():
    a = np.zeros((8, 8))
    b = np.full((8, 8), 10.0)  # MSE 100
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))


def test_psnr_ignores_the_border():
    a = np.zeros((10, 10))
    b = a.copy()
    b[0, :] = 255.0
    b[5, 5] = 2.0  # one interior pixel off by 2 among 6x6: MSE 4/36
    assert psnr(a, b, border=2) == pytest.approx(10 * math.log10(255**2 * 36 / 4))


def test_psnr_of_identical_images_is_inf():
    a = np.random.default_rng(0).random((5, 5))
    assert psnr(a, a) == math.inf


def test_ssim_of_identical_images_is_one():
    a = np.random.default_rng(0).random((30, 40)) * 255
    assert ssim(a, a, border=3) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_a_constant_offset():
    """Constant images: the structure term is 1, the luminance term is (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)."""
    a, b = np.full((20, 20), 100.0), np.full((20, 20), 120.0)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


def test_ssim_decreases_with_noise():
    rng = np.random.default_rng(1)
    a = rng.random((40, 40)) * 255
    light, heavy = a + rng.normal(0, 5, a.shape), a + rng.normal(0, 30, a.shape)
    assert 1 > ssim(a, light) > ssim(a, heavy) > 0


def test_ssim_matches_scikit_image():
    """An independent SSIM: scikit-image with the Wang et al. settings (Gaussian 1.5, population covariance)."""
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image not installed: no cross-check")
    rng = np.random.default_rng(2)
    a = rng.random((48, 40)) * 255
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    theirs = metrics.structural_similarity(
        a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(a, b) == pytest.approx(theirs, abs=1e-9)


def test_gaussian_window_is_matlab_fspecial():
    g = gaussian_window()
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0)
    centre = 1 / sum(math.exp(-(k**2) / (2 * 1.5**2)) for k in range(-5, 6))  # exp(0) over the sum
    assert g[5] == pytest.approx(centre, abs=1e-15)
    assert g[5] ** 2 == pytest.approx(0.0707622, abs=1e-7)  # fspecial('gaussian', 11, 1.5)'s centre


def test_ssim_needs_a_full_window():
    with pytest.raises(ValueError, match="SSIM"):
        ssim(np.zeros((14, 14)), np.zeros((14, 14)), border=2)


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))


def test_quantize_rounds_to_uint8_levels():
    np.testing.assert_allclose(quantize(np.array([-0.1, 0.5, 1.2, 100.4 / 255])), [0, 128 / 255, 1, 100 / 255])


def test_sr_metrics_of_the_hr_image_itself():
    hr = np.round(np.random.default_rng(3).random((30, 30, 3)) * 255) / 255
    p, s = sr_metrics(hr, hr, 2)
    assert p == math.inf and s == pytest.approx(1.0)


def test_sr_metrics_treat_grey_as_grey():
    """A grey image is compared on its value x 255, so one level of error everywhere gives 48.13 dB."""
    hr = np.full((30, 30), 100 / 255)
    p, _ = sr_metrics(hr, hr + 1 / 255, 2)
    assert p == pytest.approx(10 * math.log10(255**2))


def require_data(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"../shared/data not present: {folder} is missing, so the published numbers cannot be checked")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(("name", "scale"), list(PUBLISHED))
def test_bicubic_matches_published_numbers(name, scale):
    published_psnr, published_ssim = PUBLISHED[(name, scale)]
    result = evaluate_folder(require_data(name), scale)
    assert result.n_images == {"Set5": 5, "Set14": 14}[name]
    assert abs(result.psnr - published_psnr) < PSNR_TOL, f"PSNR {result.psnr:.4f} vs {published_psnr}"
    assert abs(result.ssim - published_ssim) < SSIM_TOL, f"SSIM {result.ssim:.5f} vs {published_ssim}"
