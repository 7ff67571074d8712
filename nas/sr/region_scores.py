"""Where upscalers differ, region by region (the paper's Section 5): each upscaler's PSNR, SSIM and GMSD over the
pixels of each region class (flat, edge, detail: ``nas.sr.region_classes``, from the HR image alone).

Per class, PSNR pools the squared errors of the class's pixels over all images (one MSE, then dB), SSIM averages
the protocol's SSIM map over the windows centred on the class's pixels, and GMSD (Xue et al. 2014: the standard
deviation of the gradient-magnitude similarity on the 2x2-averaged image) pools the similarity of the class's
pixels.  Differences between two upscalers get a percentile bootstrap interval that resamples images, each with
all its tiles of the class (tiles of one image are not independent: resampling tiles made 10 images look like
hundreds of samples), and both upscalers' errors together; with fewer than ``MIN_IMAGES`` images there is none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image

from nas.confidence import LEVEL
from nas.sr.evaluation import UpscaleFn, degraded
from nas.sr.metrics import PEAK, crop_border, psnr_of_mse, quantize, y_levels
from nas.sr.region_classes import CLASSES, TILE, Tiling, classify, classify_once
from nas.sr.tile_sums import TileSums, tile_sse, tile_sums

ALL = "all"  # every evaluated pixel, as a class row beside the others
N_BOOT = 2000
VIEW_SIDE = 480  # pixels: the longer side of an image's view on the page, under its class overlay

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["ALL", "CLASSES", "TILE", "Measured", "RegionAnalysis", "Tiling", "analyse", "classify", "measure_image"]


# ---------------------------------------------------------------- measuring upscalers on images


@dataclass(frozen=True)
class Crop:
    """The crop of one image where two upscalers differ most in one class: RGB uint8 crops and Y errors."""

    image: str
    region: str
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 in the border-cropped frame
    rgb: dict[str, npt.NDArray[np.uint8]]  # "hr" and each upscaler
    error: dict[str, Array]  # |Y error| per upscaler
    psnr: dict[str, float]


@dataclass
class Measured:
    """Every tile of every image (its box in the border-cropped frame, its class), with each upscaler's sums; and
    the gallery's crops and small views of the HR images, for the page."""

    upscalers: tuple[str, ...]
    images: list[str] = field(default_factory=list)
    image_of: list[IntArray] = field(default_factory=list)
    boxes: list[IntArray] = field(default_factory=list)
    classes: list[IntArray] = field(default_factory=list)
    pixels: list[IntArray] = field(default_factory=list)
    sums: dict[str, list[TileSums]] = field(default_factory=dict)
    crops: list[Crop] = field(default_factory=list)
    views: dict[str, npt.NDArray[np.uint8]] = field(default_factory=dict)  # border-cropped HR, at most VIEW_SIDE
    frames: list[tuple[int, int]] = field(default_factory=list)  # each image's border-cropped shape
    border: int = 0  # pixels cropped from each side before tiling (the scale)

    def tiles(self) -> tuple[IntArray, IntArray, dict[str, TileSums]]:
        """(class index, pixels, sums per upscaler) of all tiles of all images."""
        return (
            np.concatenate(self.classes),
            np.concatenate(self.pixels),
            {u: TileSums.concat(self.sums[u]) for u in self.upscalers},
        )


def tile_psnr(sse: Array, pixels: IntArray) -> Array:
    """Per-tile PSNR (dB); inf where a tile is reproduced exactly."""
    return psnr_of_mse(sse / pixels)


def widest_crops(
    name: str,
    tiling: Tiling,
    y_errors: Mapping[str, Array],
    rgb: Mapping[str, npt.NDArray[np.uint8]],
    sums: Mapping[str, TileSums],
    pair: tuple[str, str],
    border: int,
) -> list[Crop]:
    """Per class, the tile where ``pair``'s PSNRs differ most (one crop each), with every upscaler's view of it."""
    a, b = pair
    pa, pb = tile_psnr(sums[a].sse, tiling.pixels), tile_psnr(sums[b].sse, tiling.pixels)
    finite = np.isfinite(pa) & np.isfinite(pb)  # a tile reproduced exactly (inf dB) has no gap to rank
    gap = np.full(pa.shape, -1.0)
    gap[finite] = np.abs(pa[finite] - pb[finite])
    out: list[Crop] = []
    for index, region in enumerate(CLASSES):
        members = np.flatnonzero(tiling.classes == index)
        if members.size == 0:
            continue
        k = int(members[np.argmax(gap[members])])
        y0, y1, x0, x1 = (int(v) for v in tiling.boxes[k])
        out.append(
            Crop(
                image=name,
                region=region,
                box=(y0, y1, x0, x1),
                rgb={u: img[y0 + border : y1 + border, x0 + border : x1 + border].copy() for u, img in rgb.items()},
                error={u: y_errors[u][y0:y1, x0:x1].copy() for u in y_errors},
                psnr={u: float(tile_psnr(sums[u].sse[k : k + 1], tiling.pixels[k : k + 1])[0]) for u in sums},
            )
        )
    return out


def as_uint8(img: Array) -> npt.NDArray[np.uint8]:
    """A float [0, 1] image as the uint8 a PNG would hold (grey becomes three equal channels)."""
    arr = np.round(np.clip(img, 0.0, 1.0) * PEAK).astype(np.uint8)
    return np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else arr


def small_view(rgb: npt.NDArray[np.uint8], side: int = VIEW_SIDE) -> npt.NDArray[np.uint8]:
    """``rgb`` shrunk (never enlarged) so that its longer side is at most ``side`` pixels, for the page."""
    h, w = rgb.shape[:2]
    factor = min(1.0, side / max(h, w))
    if factor == 1.0:
        return rgb
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)


def tiled(name: str, img: npt.NDArray[np.uint8], scale: int, tile: int) -> tuple[Array, Array, Array, Tiling]:
    """The HR image's degraded pair, its scored Y (border cropped) and that Y's tiles with their classes."""
    hr, lr = degraded(name, img, scale)
    y_hr = crop_border(y_levels(hr), scale)
    return hr, lr, y_hr, classify_once(y_hr, tile)


def measure_image(
    measured: Measured,
    name: str,
    img: npt.NDArray[np.uint8],
    scale: int,
    upscalers: Mapping[str, UpscaleFn],
    tile: int = TILE,
    pair: tuple[str, str] | None = None,
) -> None:
    """Degrade one HR image, upscale it with each upscaler, and add its tiles and sums (and crops) to ``measured``."""
    hr, lr, y_hr, tiling = tiled(name, img, scale, tile)
    srs = {u: quantize(np.asarray(fn(lr), dtype=np.float64)) for u, fn in upscalers.items()}
    y_srs = {u: crop_border(y_levels(sr), scale) for u, sr in srs.items()}
    sums = {u: tile_sums(y_hr, y_sr, tiling) for u, y_sr in y_srs.items()}
    index = len(measured.images)
    measured.images.append(name)
    measured.image_of.append(np.full(len(tiling.boxes), index, dtype=np.int64))
    measured.boxes.append(tiling.boxes)
    measured.frames.append(tiling.shape)
    measured.border = scale
    measured.classes.append(tiling.classes)
    measured.pixels.append(tiling.pixels)
    for u in measured.upscalers:
        measured.sums.setdefault(u, []).append(sums[u])
    if pair is not None:
        rgb = {"hr": as_uint8(hr), **{u: as_uint8(sr) for u, sr in srs.items()}}
        errors = {u: np.abs(y_hr - y_sr) for u, y_sr in y_srs.items()}
        measured.crops.extend(widest_crops(name, tiling, errors, rgb, sums, pair, scale))
        measured.views[name] = small_view(crop_border(rgb["hr"], scale))


# ---------------------------------------------------------------- per-class results and paired intervals


@dataclass(frozen=True)
class ClassScore:
    """One upscaler on one class."""

    psnr: float
    ssim: float
    gmsd: float
    share: float
    tiles: int


def pooled_psnr(sse: float, pixels: float) -> float:
    """PSNR (dB) of the squared errors of ``pixels`` pixels pooled: one MSE, then dB."""
    return float(psnr_of_mse(sse / pixels))


def class_members(classes: IntArray, region: str) -> npt.NDArray[np.bool_]:
    return np.ones(classes.shape, dtype=bool) if region == ALL else classes == CLASSES.index(region)


def class_score(sums: TileSums, pixels: IntArray, members: npt.NDArray[np.bool_]) -> ClassScore | None:
    """Pooled PSNR, SSIM and GMSD over the member tiles; None when the class has no tiles."""
    if not members.any():
        return None
    s = sums.select(members)
    ssim_n, gms_n = float(s.ssim_n.sum()), float(s.gms_n.sum())
    gms_mean = float(s.gms_sum.sum()) / gms_n if gms_n else math.nan
    gms_var = float(s.gms_sq.sum()) / gms_n - gms_mean * gms_mean if gms_n else math.nan
    return ClassScore(
        psnr=pooled_psnr(float(s.sse.sum()), float(pixels[members].sum())),
        ssim=float(s.ssim_sum.sum()) / ssim_n if ssim_n else math.nan,
        gmsd=math.sqrt(max(gms_var, 0.0)) if gms_n else math.nan,
        share=float(pixels[members].sum()) / float(pixels.sum()),
        tiles=int(members.sum()),
    )


def psnr_difference(sse_a: Array, sse_b: Array, axis: int = -1) -> Array:
    """PSNR of a minus PSNR of b over the same pixels (dB): 10 log10 of the ratio of their summed squared errors.

    A unit that a reproduces exactly gives +inf (-inf for b, nan for both) without a warning: a bootstrap resample or
    a single tile of a flat region can hold no error at all, and that is a value here, not a fault to print."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sum(sse_b, axis=axis) / np.sum(sse_a, axis=axis)
        return np.asarray(10.0 * np.log10(ratio), dtype=np.float64)


MIN_IMAGES = 5  # images (clusters of tiles) a region interval needs


def by_image(sse: Array, images: IntArray) -> Array:
    """Summed squared error per image (in the order of ``np.unique(images)``)."""
    _, index = np.unique(images, return_inverse=True)
    return np.bincount(index, weights=sse).astype(np.float64)


def clustered_interval(
    sse_a: Array, sse_b: Array, images: IntArray, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``psnr_difference``, resampling images with all their tiles (both upscalers
    together); None with fewer than ``MIN_IMAGES`` images."""
    a, b = by_image(sse_a, images), by_image(sse_b, images)
    if len(a) < MIN_IMAGES:
        return None
    return difference_interval(a, b, n_boot, level, seed)


def difference_interval(
    sse_a: Array, sse_b: Array, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``psnr_difference`` over units (tiles, or images' sums) resampled in pairs;
    None for under 2 units."""
    if len(sse_a) < 2:
        return None
    if np.allclose(psnr_difference(sse_a[:, None], sse_b[:, None], axis=1), psnr_difference(sse_a, sse_b)):
        d = float(psnr_difference(sse_a, sse_b))  # every tile agrees: every resample gives this difference
        return d, d
    from scipy import stats  # here, not at the top: every training process imports this module, few bootstrap

    with np.errstate(invalid="ignore"):  # a resample of error-free units only is +inf; its spread is then nan
        result = stats.bootstrap(
            (sse_a, sse_b),
            psnr_difference,
            paired=True,
            vectorized=True,
            n_resamples=n_boot,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass(frozen=True)
class PairDifference:
    a: str
    b: str
    region: str
    diff: float
    ci: tuple[float, float] | None
    images: int = 0  # images with tiles of the class: the units the interval resamples

    def ci_text(self) -> str:
        if self.ci is None:
            return f"not enough data: {self.images} image(s), {MIN_IMAGES} or more"
        return f"[{self.ci[0]:+.3f}, {self.ci[1]:+.3f}]"


def region_names(classes: IntArray) -> list[str]:
    """The classes present, in CLASSES order, then ALL."""
    return [c for i, c in enumerate(CLASSES) if (classes == i).any()] + [ALL]


def per_class(measured: Measured) -> dict[str, dict[str, ClassScore]]:
    """{class: {upscaler: score}} for every class that has tiles, and ALL."""
    classes, pixels, sums = measured.tiles()
    out: dict[str, dict[str, ClassScore]] = {}
    for region in region_names(classes):
        members = class_members(classes, region)
        out[region] = {u: score for u in measured.upscalers if (score := class_score(sums[u], pixels, members))}
    return out


def pair_differences(
    measured: Measured, pairs: Sequence[tuple[str, str]], n_boot: int = N_BOOT
) -> list[PairDifference]:
    """Per class and pair, the PSNR difference a - b with its bootstrap interval over images (their tiles)."""
    classes, _, sums = measured.tiles()
    image_of = np.concatenate(measured.image_of)
    out: list[PairDifference] = []
    for region in region_names(classes):
        members = class_members(classes, region)
        images = image_of[members]
        for a, b in pairs:
            sa, sb = sums[a].sse[members], sums[b].sse[members]
            if sa.sum() == 0 or sb.sum() == 0:
                continue
            diff = float(psnr_difference(sa, sb))
            ci = clustered_interval(sa, sb, images, n_boot)
            out.append(PairDifference(a, b, region, diff, ci, len(np.unique(images))))
    return out


@dataclass(frozen=True)
class RegionAnalysis:
    """One set of images through every upscaler: the per-class scores, the pairs' differences, the crops."""

    measured: Measured
    per_class: dict[str, dict[str, ClassScore]]
    pairs: list[PairDifference]

    def summary_lines(self) -> list[str]:
        """A text table: per class, its share of the pixels and each upscaler's PSNR; then each pair's difference."""
        ups = self.measured.upscalers
        width = max(len(u) for u in ups) + 2
        lines = [f"{'class':<10}{'share':>7}" + "".join(f"{u:>{max(width, 9)}}" for u in ups)]
        for region, scores in self.per_class.items():
            share = next(iter(scores.values())).share
            row = "".join(f"{scores[u].psnr:>{max(width, 9)}.2f}" if u in scores else " " * max(width, 9) for u in ups)
            lines.append(f"{region:<10}{share:>7.1%}{row}")
        for d in self.pairs:
            over = f" over {d.images} images" if d.ci is not None else ""
            lines.append(f"{d.a} - {d.b} on {d.region}: {d.diff:+.3f} dB {d.ci_text()}{over}")
        return lines


def analyse(measured: Measured, pairs: Sequence[tuple[str, str]], n_boot: int = N_BOOT) -> RegionAnalysis:
    return RegionAnalysis(measured, per_class(measured), pair_differences(measured, pairs, n_boot))


def region_psnrs(
    images: Sequence[tuple[str, npt.NDArray[np.uint8]]], scale: int, upscale_fn: UpscaleFn, tile: int = TILE
) -> dict[str, float]:
    """{class: PSNR over that class's pixels of all images} for the classes present (a search trial's record),
    from the squared errors alone: ``per_class``'s PSNRs without its SSIM and GMS maps, which every trial paid."""
    classes, pixels, sse = [], [], []
    for name, img in images:
        _, lr, y_hr, tiling = tiled(name, img, scale, tile)
        y_sr = crop_border(y_levels(quantize(np.asarray(upscale_fn(lr), dtype=np.float64))), scale)
        classes.append(tiling.classes)
        pixels.append(tiling.pixels)
        sse.append(tile_sse(y_hr, y_sr, tiling.owner(), len(tiling.boxes)))
    c, p, s = np.concatenate(classes), np.concatenate(pixels), np.concatenate(sse)
    members = {region: class_members(c, region) for region in region_names(c) if region != ALL}
    return {region: pooled_psnr(float(s[m].sum()), float(p[m].sum())) for region, m in members.items()}
