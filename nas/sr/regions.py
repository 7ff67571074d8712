"""Where upscalers differ, region by region (the paper's Section 5): region classes of an HR image, tile by tile,
and each upscaler's PSNR, SSIM and GMSD over the pixels of each class.

Classes come from the HR image alone: its Y (0..255, the protocol's rounding) after the protocol's border crop of
``scale`` pixels, cut into tiles of about ``tile`` pixels a side (the cut spreads the remainder over the tiles, so
every evaluated pixel belongs to exactly one tile).  A tile is, in this order:

- ``flat`` when Y less its best-fitting plane varies by under ``FLAT_STD`` levels (so a smooth ramp is flat too);
- ``periodic`` (dense structure: grids, stripes, lattices) when its Hann-windowed spectrum holds at least
  ``PERIODIC_SHARE`` of the energy in its ``PEAKS`` strongest peaks (each with its mirror image, 3x3 bins each) and
  the strongest repeats every ``MAX_PERIOD`` pixels or less;
- ``edge`` when one orientation dominates its structure tensor (coherence at least ``EDGE_COHERENCE``);
- ``texture`` otherwise.

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
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from scipy import ndimage, stats

from nas.jsonvalues import finite_or_none
from nas.sr.evaluation import UpscaleFn, prepare_hr
from nas.sr.imresize import imresize_np
from nas.sr.metrics import PEAK, SSIM_WINDOW, crop_border, quantize, ssim_map, y_levels

CLASSES = ("flat", "edge", "texture", "periodic")
ALL = "all"  # every evaluated pixel, as a class row beside the others
TILE = 32
FLAT_STD = 4.0  # Y levels, after removing the tile's best-fitting plane
PERIODIC_SHARE = 0.4
PEAKS = 2  # a grid or a checkerboard has two directions; a grating one
MAX_PERIOD = 12.0  # pixels: "dense" structure
MIN_PERIODIC_SIDE = 16  # a tile shorter than this cannot show enough periods
EDGE_COHERENCE = 0.5
GMSD_T = 170.0  # the GMSD paper's constant for 0..255 images
N_BOOT = 2000
LEVEL = 0.95

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# ---------------------------------------------------------------- the classifier


def tile_edges(n: int, tile: int) -> list[int]:
    """Cut ``n`` pixels into about ``n / tile`` runs of near-equal length, covering all of them."""
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    count = max(1, round(n / tile))
    return [round(n * k / count) for k in range(count + 1)]


def tile_boxes(shape: tuple[int, int], tile: int) -> IntArray:
    """(y0, y1, x0, x1) of every tile of an image of ``shape``, row by row."""
    ys, xs = tile_edges(shape[0], tile), tile_edges(shape[1], tile)
    return np.array([(y0, y1, x0, x1) for y0, y1 in pairwise(ys) for x0, x1 in pairwise(xs)], dtype=np.int64).reshape(
        -1, 4
    )


def plane_residual_std(y: Array) -> float:
    """How much ``y`` varies once its best-fitting plane a + b*row + c*col is removed."""
    h, w = y.shape
    rows, cols = np.mgrid[0:h, 0:w]
    design = np.column_stack([np.ones(h * w), rows.ravel(), cols.ravel()])
    coef, *_ = np.linalg.lstsq(design, y.ravel(), rcond=None)
    return float(np.std(y.ravel() - design @ coef))


def spectral_peaks(y: Array, peaks: int = PEAKS) -> tuple[float, float]:
    """(share of the AC energy in the ``peaks`` strongest peaks and their mirrors, period in pixels of the strongest).

    The tile is Hann-windowed so that a pattern that does not fit the tile a whole number of times stays a peak.
    """
    h, w = y.shape
    windowed = (y - y.mean()) * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(windowed)) ** 2
    power[0, 0] = 0.0
    total = float(power.sum())
    if total <= 0.0:
        return 0.0, math.inf
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    taken = np.zeros(power.shape, dtype=bool)
    period = math.inf
    for k in range(peaks):
        i, j = np.unravel_index(int(np.argmax(np.where(taken, -1.0, power))), power.shape)
        if k == 0:
            radius = math.hypot(float(fy[i]), float(fx[j]))
            period = 1.0 / radius if radius > 0 else math.inf
        for ci, cj in ((i, j), (-i % h, -j % w)):
            taken[np.ix_([(ci + d) % h for d in (-1, 0, 1)], [(cj + d) % w for d in (-1, 0, 1)])] = True
    return float(power[taken].sum()) / total, period


def coherence(y: Array) -> float:
    """How much one orientation dominates the tile's gradients: 1 for a straight edge, near 0 for noise."""
    gy, gx = np.gradient(y)
    jxx, jyy, jxy = float(np.mean(gx * gx)), float(np.mean(gy * gy)), float(np.mean(gx * gy))
    trace = jxx + jyy
    if trace <= 0.0:
        return 0.0
    return ((jxx - jyy) ** 2 + 4.0 * jxy * jxy) / (trace * trace)


def classify_tile(y: Array) -> str:
    """The region class of one tile of Y (0..255)."""
    if plane_residual_std(y) < FLAT_STD:
        return "flat"
    if min(y.shape) >= MIN_PERIODIC_SIDE:
        share, period = spectral_peaks(y)
        if share >= PERIODIC_SHARE and period <= MAX_PERIOD:
            return "periodic"
    return "edge" if coherence(y) >= EDGE_COHERENCE else "texture"


@dataclass(frozen=True)
class Tiling:
    """One image's tiles (in the border-cropped frame) and the class index of each."""

    boxes: IntArray
    classes: IntArray
    shape: tuple[int, int]

    @property
    def pixels(self) -> IntArray:
        return (self.boxes[:, 1] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 2])

    def owner(self) -> IntArray:
        """The index of the tile each pixel belongs to."""
        out = np.empty(self.shape, dtype=np.int64)
        for k, (y0, y1, x0, x1) in enumerate(self.boxes):
            out[y0:y1, x0:x1] = k
        return out

    def mask(self, name: str) -> npt.NDArray[np.bool_]:
        """The pixels of class ``name``."""
        return np.isin(self.owner(), np.flatnonzero(self.classes == CLASSES.index(name)))


def classify(y: Array, tile: int = TILE) -> Tiling:
    """Tiles of a (border-cropped) HR Y image and their classes."""
    arr = np.asarray(y, dtype=np.float64)
    boxes = tile_boxes((arr.shape[0], arr.shape[1]), tile)
    classes = [CLASSES.index(classify_tile(arr[y0:y1, x0:x1])) for y0, y1, x0, x1 in boxes]
    return Tiling(boxes, np.array(classes, dtype=np.int64), (arr.shape[0], arr.shape[1]))


# ---------------------------------------------------------------- per-tile sums


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


def tile_sums(y_hr: Array, y_sr: Array, tiling: Tiling) -> TileSums:
    """An upscaler's per-tile sums on one image (Y 0..255, border-cropped, the shape of ``tiling``)."""
    owner = tiling.owner()
    n = len(tiling.boxes)

    def per_tile(labels: IntArray, values: Array) -> Array:
        return np.bincount(labels.ravel(), weights=values.ravel(), minlength=n).astype(np.float64)

    err = (y_hr - y_sr) ** 2
    half = SSIM_WINDOW // 2  # an SSIM window belongs to the tile of its centre pixel
    smap = ssim_map(y_hr, y_sr)
    centres = owner[half : half + smap.shape[0], half : half + smap.shape[1]]
    gms = gms_map(y_hr, y_sr)
    corners = owner[: 2 * gms.shape[0] : 2, : 2 * gms.shape[1] : 2]  # a half-resolution pixel's top-left pixel
    return TileSums(
        sse=per_tile(owner, err),
        ssim_sum=per_tile(centres, smap),
        ssim_n=per_tile(centres, np.ones_like(smap)),
        gms_sum=per_tile(corners, gms),
        gms_sq=per_tile(corners, gms * gms),
        gms_n=per_tile(corners, np.ones_like(gms)),
    )


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
    """Every tile of every image, with each upscaler's sums; and the gallery's crops."""

    upscalers: tuple[str, ...]
    images: list[str] = field(default_factory=list)
    image_of: list[IntArray] = field(default_factory=list)
    classes: list[IntArray] = field(default_factory=list)
    pixels: list[IntArray] = field(default_factory=list)
    sums: dict[str, list[TileSums]] = field(default_factory=dict)
    crops: list[Crop] = field(default_factory=list)

    def tiles(self) -> tuple[IntArray, IntArray, dict[str, TileSums]]:
        """(class index, pixels, sums per upscaler) of all tiles of all images."""
        return (
            np.concatenate(self.classes),
            np.concatenate(self.pixels),
            {u: TileSums.concat(self.sums[u]) for u in self.upscalers},
        )


def tile_psnr(sse: Array, pixels: IntArray) -> Array:
    """Per-tile PSNR (dB); inf where a tile is reproduced exactly."""
    with np.errstate(divide="ignore"):
        return np.asarray(10.0 * np.log10(PEAK * PEAK * pixels / sse), dtype=np.float64)


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
    gap = np.where(np.isfinite(pa) & np.isfinite(pb), np.abs(pa - pb), -1.0)
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
    hr = prepare_hr(name, img, scale)
    lr = imresize_np(hr, 1.0 / scale)
    y_hr = crop_border(y_levels(hr), scale)
    tiling = classify(y_hr, tile)
    srs = {u: quantize(np.asarray(fn(lr), dtype=np.float64)) for u, fn in upscalers.items()}
    y_srs = {u: crop_border(y_levels(sr), scale) for u, sr in srs.items()}
    sums = {u: tile_sums(y_hr, y_sr, tiling) for u, y_sr in y_srs.items()}
    index = len(measured.images)
    measured.images.append(name)
    measured.image_of.append(np.full(len(tiling.boxes), index, dtype=np.int64))
    measured.classes.append(tiling.classes)
    measured.pixels.append(tiling.pixels)
    for u in measured.upscalers:
        measured.sums.setdefault(u, []).append(sums[u])
    if pair is not None:
        rgb = {"hr": as_uint8(hr), **{u: as_uint8(sr) for u, sr in srs.items()}}
        errors = {u: np.abs(y_hr - y_sr) for u, y_sr in y_srs.items()}
        measured.crops.extend(widest_crops(name, tiling, errors, rgb, sums, pair, scale))


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
    return math.inf if sse == 0 else 10.0 * math.log10(PEAK * PEAK * pixels / sse)


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
    """PSNR of a minus PSNR of b over the same pixels (dB): 10 log10 of the ratio of their summed squared errors."""
    return np.asarray(10.0 * np.log10(np.sum(sse_b, axis=axis) / np.sum(sse_a, axis=axis)), dtype=np.float64)


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
class Analysis:
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


def analyse(measured: Measured, pairs: Sequence[tuple[str, str]], n_boot: int = N_BOOT) -> Analysis:
    return Analysis(measured, per_class(measured), pair_differences(measured, pairs, n_boot))


def per_class_json(analysis: Analysis) -> dict[str, dict[str, dict[str, float | int | None]]]:
    return {
        region: {
            u: {
                "psnr": finite_or_none(s.psnr),
                "ssim": finite_or_none(s.ssim),
                "gmsd": finite_or_none(s.gmsd),
                "share": s.share,
                "tiles": s.tiles,
            }
            for u, s in scores.items()
        }
        for region, scores in analysis.per_class.items()
    }


def pairs_json(analysis: Analysis) -> list[dict[str, object]]:
    return [
        {
            "a": d.a,
            "b": d.b,
            "class": d.region,
            "diff": finite_or_none(d.diff),
            "ci": None if d.ci is None else list(d.ci),  # null: fewer than MIN_IMAGES images
            "images": d.images,
        }
        for d in analysis.pairs
    ]


def as_json(main: Analysis, rescaled: Mapping[float, Analysis]) -> dict[str, object]:
    """``regions.json``: {models, classes, per_class, pairs, rescale: {factor: per_class}, rescale_pairs, images}."""
    return {
        "models": list(main.measured.upscalers),
        "classes": [*CLASSES, ALL],
        "images": list(main.measured.images),
        "per_class": per_class_json(main),
        "pairs": pairs_json(main),
        "rescale": {f"{f:g}": per_class_json(a) for f, a in rescaled.items()},
        "rescale_pairs": {f"{f:g}": pairs_json(a) for f, a in rescaled.items()},
    }


def region_psnrs(
    images: Sequence[tuple[str, npt.NDArray[np.uint8]]], scale: int, upscale_fn: UpscaleFn, tile: int = TILE
) -> dict[str, float]:
    """{class: PSNR over that class's pixels of all images} for the classes present (a search trial's record)."""
    measured = Measured(("model",))
    for name, img in images:
        measure_image(measured, name, img, scale, {"model": upscale_fn}, tile)
    return {region: scores["model"].psnr for region, scores in per_class(measured).items() if region != ALL}
