"""The standard SR evaluation protocol: modcrop, BT.601 luma, PSNR and SSIM with a border crop.

This is what the published tables use (SRCNN, VDSR, EDSR, BasicSR's MATLAB-compatible path):
images are compared on Y of YCbCr on the 0..255 scale, ``scale`` pixels cropped from each side,
SSIM as in Wang et al.'s ``ssim_index.m``. A grey image is compared on its own value, unconverted.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.ndimage import correlate1d

Y_OFFSET = 16.0
Y_WEIGHTS = np.array([65.481, 128.553, 24.966])  # MATLAB rgb2ycbcr, for RGB in [0, 1]; sums to 219
LUMA = Y_WEIGHTS / Y_WEIGHTS.sum()  # BT.601 0.299, 0.587, 0.114: colour -> grey with Y's proportions
PEAK = 255.0

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """``img`` cropped (bottom and right) to H and W divisible by ``scale``, so LR and HR sizes match exactly."""
    if scale < 1:
        raise ValueError(f"modcrop: scale must be a positive integer, got {scale!r}")
    h, w = img.shape[0], img.shape[1]
    return img[: h - h % scale, : w - w % scale]


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y on the 0..255 scale (BT.601, MATLAB's rgb2ycbcr times 255) of RGB in [0, 1]; a grey HxW image is x255."""
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 2:
        return arr * PEAK
    if arr.ndim == 3 and arr.shape[2] == 3:
        return Y_OFFSET + arr @ Y_WEIGHTS
    raise ValueError(f"rgb_to_y: expected HxW or HxWx3, got shape {arr.shape}")


def crop_border(img: np.ndarray, border: int) -> np.ndarray:
    """``img`` without ``border`` pixels on each side (the protocol ignores the edge the upscaler cannot see)."""
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if border == 0:
        return img
    return img[border:-border, border:-border]


def check_pair(a: np.ndarray, b: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 with the border cropped; raise ValueError on a shape mismatch or nothing left."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"expected two HxW images of one shape, got {x.shape} and {y.shape}")
    x, y = crop_border(x, border), crop_border(y, border)
    if x.size == 0:
        raise ValueError(f"nothing left of a {a.shape} image after cropping a border of {border}")
    return x, y


def psnr_of_mse(mse: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """PSNR in dB (peak 255) of mean squared errors, elementwise; inf where an error is 0, without a warning.  The one
    formula: an image's PSNR, a tile's and a region's pooled one all come from here."""
    with np.errstate(divide="ignore"):
        return np.asarray(10.0 * np.log10(PEAK * PEAK / np.asarray(mse, dtype=np.float64)), dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """PSNR in dB of two 0..255 HxW images (peak 255) after cropping ``border``; inf when they are equal."""
    x, y = check_pair(a, b, border)
    return float(psnr_of_mse(np.mean((x - y) ** 2)))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The 1-D factor of MATLAB's ``fspecial('gaussian', size, sigma)``, normalised to sum 1."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def correlate_valid(img: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """1-D correlation of ``img`` with ``g`` (odd length, centred) along ``axis``, 'valid' region only (no
    padding), in scipy's C loop: every validation runs it, and a numpy pass per weight was several times slower."""
    if len(g) % 2 == 0:
        raise ValueError(f"correlate_valid: the window needs an odd length to be centred, got {len(g)}")
    half = len(g) // 2
    full = correlate1d(img, g, axis=axis, mode="constant")
    return np.take(full, np.arange(half, img.shape[axis] - half), axis=axis)


def filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation with ``g`` x ``g``, 'valid' region only (MATLAB ``filter2(w, img, 'valid')``)."""
    return correlate_valid(correlate_valid(img, g, 0), g, 1)


def ssim(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian sigma 1.5, K1 0.01, K2 0.03, L 255, no padding) after ``border``."""
    return float(np.mean(ssim_map(a, b, border)))


def ssim_map(a: np.ndarray, b: np.ndarray, border: int = 0) -> np.ndarray:
    """SSIM of every full window after ``border``: entry (i, j) is the window centred on pixel (i + 5, j + 5)."""
    x, y = check_pair(a, b, border)
    if min(x.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the border, got {x.shape}")
    g = gaussian_window()
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    mu_x, mu_y = filter_valid(x, g), filter_valid(y, g)
    var_x = filter_valid(x * x, g) - mu_x * mu_x
    var_y = filter_valid(y * y, g) - mu_y * mu_y
    cov = filter_valid(x * y, g) - mu_x * mu_y
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return np.asarray(num / den)


def quantize(img: np.ndarray) -> np.ndarray:
    """``img`` in [0, 1] clipped and rounded to the 256 levels of a uint8 PNG, still as float64."""
    return np.round(np.clip(img, 0.0, 1.0) * PEAK) / PEAK


def y_levels(img: np.ndarray) -> np.ndarray:
    """Y (or grey) rounded to integer 0..255 levels, as MATLAB's ``rgb2ycbcr`` of a uint8 image returns."""
    return np.round(rgb_to_y(img))


def sr_metrics(hr: np.ndarray, sr: np.ndarray, scale: int) -> tuple[float, float]:
    """(PSNR, SSIM) of an SR image against its HR image, the published way: on Y, border = scale.

    Both are float RGB HxWx3 in [0, 1], or grey HxW, of one (modcropped) shape. Measured choice
    (Set5/Set14 bicubic against the published numbers): ``sr`` is clipped and rounded to uint8
    levels, as if saved as PNG, and both Y channels are rounded to integers, as MATLAB's
    ``rgb2ycbcr`` does for uint8 images: that matches every published bicubic value
    (``tests/nas/test_metrics.py`` checks them), and keeping Y in float does not. A model's output
    goes through the same rounding, so it is comparable with the bicubic baseline.
    """
    y_hr, y_sr = y_pair(hr, sr)
    return psnr(y_hr, y_sr, scale), ssim(y_hr, y_sr, scale)


def sr_psnr(hr: np.ndarray, sr: np.ndarray, scale: int) -> float:
    """The PSNR of :func:`sr_metrics` alone (the same number), for a learning curve's checkpoints: no SSIM."""
    y_hr, y_sr = y_pair(hr, sr)
    return psnr(y_hr, y_sr, scale)


def y_pair(hr: np.ndarray, sr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Y channels the published protocol compares: HR's, and SR's after rounding to uint8 levels."""
    hr_arr, sr_arr = np.asarray(hr, dtype=np.float64), np.asarray(sr, dtype=np.float64)
    if hr_arr.shape != sr_arr.shape:
        raise ValueError(f"HR {hr_arr.shape} and SR {sr_arr.shape} differ in shape")
    return y_levels(hr_arr), y_levels(quantize(sr_arr))
