"""Region classes of an HR image, tile by tile: flat, edge, detail (the paper's Section 5).

Classes come from the HR image alone: its Y (0..255, the protocol's rounding) after the protocol's border crop of
``scale`` pixels, cut into tiles of about ``tile`` pixels a side (the cut spreads the remainder over the tiles, so
every evaluated pixel belongs to exactly one tile).  A tile is, in this order:

- ``flat`` when its smoothed gradient stays small: the 95th percentile of the gradient magnitude after a Gaussian
  of ``SMOOTH`` pixels is under ``FLAT_GRADIENT`` levels per pixel (a smooth ramp, grain or a soft blur is flat);
- ``detail`` (dense high-frequency structure: stripes, grids, lattices) when the tile's mean profile across its
  structure alternates at least ``MIN_ALTERNATIONS`` times (peaks plus troughs, so three lines or more: two
  parallel lines, a bar, are an edge) and the structure repeats (a second autocorrelation peak, separated from the
  first by a dip, of at least ``MIN_REPEAT``) or is oriented (coherence at least ``EDGE_COHERENCE``);
- ``edge`` when one orientation dominates its structure tensor (coherence at least ``EDGE_COHERENCE``) or its
  gradient energy sits in a few pixels (at least ``EDGE_SPARSITY`` of it in the strongest ``SPARSE_SHARE``);
- ``detail`` otherwise too: irregular dense structure without one orientation or a repeat (texture).

These are the paper's own two sides, "high-frequency details (strips, dense grids, lattices)" against "flat regions
and smooth edges".  Regular and irregular detail were two classes until 2026-12-07: neither the rules nor a fitted
model told them apart on images they had not been tuned on as the labeller did, while one class of detail agrees
with the labels at the level the labeller agrees with itself (BENCHMARKS.md, "Region classes (issue 32)", "Third:
the classes redefined"; the labels and how they were made: ``benchmarks/records/2026-12-06-region-classes``).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from scipy import ndimage

CLASSES = ("flat", "edge", "detail")
RULES = "2026-12-07"  # the rules' date, recorded beside every per-region PSNR: change it with CLASSES or a threshold
TILE = 32
SMOOTH = 1.0  # pixels: the Gaussian before gradients, so that sensor grain is not structure
FLAT_GRADIENT = 4.0  # Y levels per pixel, 95th percentile of the smoothed gradient magnitude
MIN_ALTERNATIONS = 4  # peaks plus troughs of the tile's profile across its structure
PROMINENCE = 0.2  # of the profile's range: smaller wiggles are not lines
MIN_REPEAT = 0.45  # height of the second autocorrelation peak above the dip before it (1 = a perfect repeat)
MIN_LAG = 3.0  # pixels: nearer autocorrelation peaks are the first one's shoulder
MIN_CYCLES = 2.0  # cycles per tile: slower spectral components are shading or one boundary, not a repeat
EDGE_COHERENCE = 0.4
EDGE_SPARSITY = 0.9
SPARSE_SHARE = 0.2
MIN_PERIODIC_SIDE = 16  # a tile shorter than this cannot show enough periods

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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


# ---------------------------------------------------------------- what the rules measure


def smoothed_gradients(y: Array) -> tuple[Array, Array]:
    """(d/drow, d/dcol) of the tile after a Gaussian of ``SMOOTH`` pixels."""
    gy, gx = np.gradient(ndimage.gaussian_filter(np.asarray(y, np.float64), SMOOTH))
    return gy, gx


def gradient_level(y: Array, gradients: tuple[Array, Array] | None = None) -> float:
    """95th percentile of the smoothed gradient magnitude (Y levels per pixel): near 0 on a flat or shaded tile."""
    gy, gx = smoothed_gradients(y) if gradients is None else gradients
    return float(np.percentile(np.hypot(gx, gy), 95))


def coherence(y: Array, gradients: tuple[Array, Array] | None = None) -> float:
    """How much one orientation dominates the tile's smoothed gradients: 1 for a straight edge, near 0 for noise."""
    gy, gx = smoothed_gradients(y) if gradients is None else gradients
    jxx, jyy, jxy = float(np.mean(gx * gx)), float(np.mean(gy * gy)), float(np.mean(gx * gy))
    trace = jxx + jyy
    if trace <= 0.0:
        return 0.0
    return ((jxx - jyy) ** 2 + 4.0 * jxy * jxy) / (trace * trace)


def sparsity(y: Array, gradients: tuple[Array, Array] | None = None) -> float:
    """Share of the smoothed gradient energy in the strongest ``SPARSE_SHARE`` of the pixels (1 = all of it)."""
    gy, gx = smoothed_gradients(y) if gradients is None else gradients
    energy = np.sort((gx * gx + gy * gy).ravel())[::-1]
    total = float(energy.sum())
    return float(energy[: int(len(energy) * SPARSE_SHARE)].sum()) / total if total > 0 else 1.0


@lru_cache(maxsize=16)
def pixel_grid(h: int, w: int) -> tuple[IntArray, IntArray]:
    """(row, column) of every pixel of an h x w tile; tiles of one image share a few shapes."""
    rows, cols = np.mgrid[0:h, 0:w]
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


@lru_cache(maxsize=16)
def overlaps(h: int, w: int) -> Array:
    """How many pixel pairs of an h x w tile overlap at each lag (the autocorrelation's normaliser, uncentred)."""
    size = (2 * h, 2 * w)
    out = np.maximum(np.round(np.real(np.fft.ifft2(np.abs(np.fft.fft2(np.ones((h, w)), s=size)) ** 2))), 1.0)
    out.setflags(write=False)
    return out


def plane_residual(y: Array) -> Array:
    """``y`` less its best-fitting plane a + b*row + c*col."""
    h, w = y.shape
    rows, cols = pixel_grid(h, w)
    design = np.column_stack([np.ones(h * w), rows.ravel(), cols.ravel()])
    coef, *_ = np.linalg.lstsq(design, y.ravel(), rcond=None)
    return np.asarray((y.ravel() - design @ coef).reshape(h, w), dtype=np.float64)


def plane_residual_std(y: Array) -> float:
    """How much ``y`` varies once its best-fitting plane is removed."""
    return float(np.std(plane_residual(np.asarray(y, np.float64))))


def autocorrelation(z: Array) -> Array:
    """Normalised autocorrelation of ``z`` at every lag (centred: lag 0 at the middle), each lag averaged over the
    pixels that overlap at it, so that far lags are not shrunk towards 0."""
    h, w = z.shape
    size = (2 * h, 2 * w)
    raw = np.real(np.fft.ifft2(np.abs(np.fft.fft2(z, s=size)) ** 2))
    acf = np.fft.fftshift(raw / overlaps(h, w))
    return acf / acf[h, w] if acf[h, w] > 0 else acf


def repeat_strength(y: Array) -> float:
    """The strongest repeat within half the tile: the height of an autocorrelation peak at least ``MIN_LAG`` pixels
    away, less the lowest value on the way to it (an edge or a bar decays without a dip: 0)."""
    h, w = y.shape
    acf = autocorrelation(plane_residual(np.asarray(y, np.float64)))
    ry, rx = h // 2, w // 2
    near = acf[h - ry : h + ry + 1, w - rx : w + rx + 1]
    rows, cols = np.nonzero((near == ndimage.maximum_filter(near, 3)) & (near > 0.0))
    keep = np.hypot(rows - ry, cols - rx) >= MIN_LAG
    rows, cols = rows[keep], cols[keep]
    path = np.linspace(0.0, 1.0, 24)[1:-1]
    best = 0.0
    for k in np.argsort(-near[rows, cols], kind="stable"):  # highest first: a score never exceeds its height
        i, j = int(rows[k]), int(cols[k])
        height = float(near[i, j])
        if height <= best:
            break
        dy, dx = i - ry, j - rx
        dip = float(ndimage.map_coordinates(near, [ry + path * dy, rx + path * dx], order=1).min())
        best = max(best, min(height, height - dip))
    return best


def structure_angle(y: Array, gradients: tuple[Array, Array] | None = None) -> float:
    """Direction (radians) of the dominant gradient: across the tile's lines."""
    gy, gx = smoothed_gradients(y) if gradients is None else gradients
    return 0.5 * math.atan2(2.0 * float(np.mean(gx * gy)), float(np.mean(gx * gx) - np.mean(gy * gy)))


def spectral_angle(y: Array) -> float:
    """Direction (radians) of the strongest spectral component of at least ``MIN_CYCLES`` cycles per tile (a
    lattice or a checkerboard, whose gradients have no one direction, still has one)."""
    h, w = y.shape
    power = np.abs(np.fft.fft2((y - y.mean()) * np.outer(np.hanning(h), np.hanning(w)))) ** 2
    ky, kx = np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w
    power = np.where(np.hypot(ky[:, None], kx[None, :]) >= MIN_CYCLES, power, -1.0)
    i, j = np.unravel_index(int(np.argmax(power)), power.shape)
    return math.atan2(float(ky[i]), float(kx[j]))


def profile(y: Array, angle: float) -> Array:
    """The tile's mean along lines perpendicular to ``angle``, pixel by pixel across it (ends averaging few pixels
    dropped)."""
    h, w = y.shape
    rows, cols = pixel_grid(h, w)
    t = cols * math.cos(angle) + rows * math.sin(angle)
    index = np.round(t - t.min()).astype(np.int64).ravel()
    counts = np.bincount(index)
    means = np.bincount(index, weights=np.asarray(y, np.float64).ravel()) / np.maximum(counts, 1)
    return np.asarray(means[counts >= max(4.0, 0.25 * min(h, w))], dtype=np.float64)


def local_maxima(p: Sequence[float]) -> list[int]:
    """Inner samples higher than both neighbours; a flat top counts once, at its middle (``scipy.signal``'s rule)."""
    peaks, i, last = [], 1, len(p) - 1
    while i < last:
        if p[i - 1] < p[i]:
            ahead = i + 1
            while ahead < last and p[ahead] == p[i]:
                ahead += 1
            if p[ahead] < p[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    return peaks


def prominence(p: Sequence[float], peak: int) -> float:
    """How far the peak rises above the higher of the lowest points on either side before a higher sample."""
    lows = []
    for step, end in ((-1, -1), (1, len(p))):
        low, i = p[peak], peak
        while i != end and p[i] <= p[peak]:
            low, i = min(low, p[i]), i + step
        lows.append(low)
    return p[peak] - max(lows)


def prominent_peaks(p: Sequence[float], least: float) -> int:
    """How many peaks of ``p`` have a prominence of at least ``least``: ``len(scipy.signal.find_peaks(p,
    prominence=least)[0])`` (the tests check it is), without importing ``scipy.signal``, which brings
    ``scipy.stats`` and costs every search process about a second for a profile of a few dozen samples."""
    return sum(prominence(p, k) >= least for k in local_maxima(p))


def alternations(y: Array, gradients: tuple[Array, Array] | None = None) -> int:
    """Peaks plus troughs of the tile's profile (each at least ``PROMINENCE`` of its range), across the dominant
    gradient direction or the strongest spectral component, whichever shows more."""
    out = 0
    for angle in (structure_angle(y, gradients), spectral_angle(y)):
        p = profile(y, angle)
        spread = float(p.max() - p.min()) if p.size else 0.0
        if spread <= 0.0:
            continue
        least = PROMINENCE * spread
        out = max(out, prominent_peaks(p.tolist(), least) + prominent_peaks((-p).tolist(), least))
    return out


# ---------------------------------------------------------------- the rules


def is_periodic(y: Array, gradients: tuple[Array, Array], coherent: bool) -> bool:
    """Three lines or more across the tile, which repeat or share one orientation."""
    if min(y.shape) < MIN_PERIODIC_SIDE or alternations(y, gradients) < MIN_ALTERNATIONS:
        return False
    return coherent or repeat_strength(y) >= MIN_REPEAT


def classify_tile(y: Array) -> str:
    """The region class of one tile of Y (0..255)."""
    tile = np.asarray(y, dtype=np.float64)
    gradients = smoothed_gradients(tile)
    if gradient_level(tile, gradients) < FLAT_GRADIENT:
        return "flat"
    coherent = coherence(tile, gradients) >= EDGE_COHERENCE
    if is_periodic(tile, gradients, coherent):
        return "detail"  # a repeat or stripes: detail even where one orientation dominates
    return "edge" if coherent or sparsity(tile, gradients) >= EDGE_SPARSITY else "detail"


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


REMEMBERED = 64  # images whose tiling ``classify_once`` keeps
_tilings: OrderedDict[tuple[bytes, tuple[int, ...], int], Tiling] = OrderedDict()


def classify_once(y: Array, tile: int = TILE) -> Tiling:
    """``classify``, remembered by the image's content: a search classifies the same validation images after every
    trial (milliseconds a tile: BENCHMARKS.md, "Region classes"), and the classes depend on the HR image alone."""
    arr = np.ascontiguousarray(y, dtype=np.float64)
    key = (hashlib.blake2b(arr.tobytes(), digest_size=16).digest(), arr.shape, tile)
    if key in _tilings:
        _tilings.move_to_end(key)
        return _tilings[key]
    _tilings[key] = tiling = classify(arr, tile)
    if len(_tilings) > REMEMBERED:
        _tilings.popitem(last=False)
    return tiling
