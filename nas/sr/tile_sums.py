"""Each upscaler's error sums per tile (squared error, SSIM map, GMSD's similarity map), so that any class of tiles
can be scored by pooling its tiles' sums."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from nas.sr.metrics import SSIM_WINDOW, ssim_map
from nas.sr.region_classes import Tiling

GMSD_T = 170.0  # the GMSD paper's constant for 0..255 images

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def gms_map(ref: Array, dist: Array) -> Array:
    """Gradient-magnitude similarity (GMSD's map) of two 0..255 images, at half resolution (2x2 block means)."""
    h, w = (ref.shape[0] // 2) * 2, (ref.shape[1] // 2) * 2

    def magnitude(img: Array) -> Array:
        half = img[:h:2, :w:2] + img[1:h:2, :w:2] + img[:h:2, 1:w:2] + img[1:h:2, 1:w:2]
        half = half / 4.0
        prewitt = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0
        gx = ndimage.correlate(half, prewitt, mode="constant")
        gy = ndimage.correlate(half, prewitt.T, mode="constant")
        return np.sqrt(gx * gx + gy * gy)

    mr, md = magnitude(np.asarray(ref, np.float64)), magnitude(np.asarray(dist, np.float64))
    return (2.0 * mr * md + GMSD_T) / (mr * mr + md * md + GMSD_T)


def gmsd(ref: Array, dist: Array) -> float:
    """GMSD of a whole image pair (0 when identical; larger is worse)."""
    return float(np.std(gms_map(ref, dist)))


@dataclass(frozen=True)
class TileSums:
    """One upscaler's sums over each tile: squared error, SSIM map, GMS map (with counts where they differ)."""

    sse: Array
    ssim_sum: Array
    ssim_n: Array
    gms_sum: Array
    gms_sq: Array
    gms_n: Array

    @staticmethod
    def concat(parts: Sequence[TileSums]) -> TileSums:
        names = ("sse", "ssim_sum", "ssim_n", "gms_sum", "gms_sq", "gms_n")
        return TileSums(*(np.concatenate([getattr(p, n) for p in parts]) for n in names))

    def select(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> TileSums:
        names = ("sse", "ssim_sum", "ssim_n", "gms_sum", "gms_sq", "gms_n")
        return TileSums(*(getattr(self, n)[index] for n in names))


def per_tile(labels: IntArray, values: Array, n: int) -> Array:
    """The sum of ``values`` over each of ``n`` tiles, ``labels`` naming each value's tile."""
    return np.bincount(labels.ravel(), weights=values.ravel(), minlength=n).astype(np.float64)


def tile_sse(y_hr: Array, y_sr: Array, owner: IntArray, n: int) -> Array:
    """An upscaler's squared error summed over each of the ``n`` tiles of one image (``owner``: each pixel's
    tile, ``Tiling.owner``); all a PSNR needs."""
    return per_tile(owner, (y_hr - y_sr) ** 2, n)


def tile_sums(y_hr: Array, y_sr: Array, tiling: Tiling) -> TileSums:
    """An upscaler's per-tile sums on one image (Y 0..255, border-cropped, the shape of ``tiling``)."""
    owner = tiling.owner()
    n = len(tiling.boxes)
    half = SSIM_WINDOW // 2  # an SSIM window belongs to the tile of its centre pixel
    smap = ssim_map(y_hr, y_sr)
    centres = owner[half : half + smap.shape[0], half : half + smap.shape[1]]
    gms = gms_map(y_hr, y_sr)
    corners = owner[: 2 * gms.shape[0] : 2, : 2 * gms.shape[1] : 2]  # a half-resolution pixel's top-left pixel
    return TileSums(
        sse=tile_sse(y_hr, y_sr, owner, n),
        ssim_sum=per_tile(centres, smap, n),
        ssim_n=per_tile(centres, np.ones_like(smap), n),
        gms_sum=per_tile(corners, gms, n),
        gms_sq=per_tile(corners, gms * gms, n),
        gms_n=per_tile(corners, np.ones_like(gms), n),
    )
