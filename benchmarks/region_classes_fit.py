"""Can a model fitted to the labelled tiles separate periodic from texture better than the rules do?

``python -m benchmarks.region_classes_fit [--data ../shared/data] [--labels FILE] [--l2 0.03]``

Measures a multinomial logistic regression (balanced class weights, an L2 penalty ``--l2`` on the standardised
features) over the ``FEATURES`` of each tile, against the labels by eye of ``benchmarks.region_classes``:
leave-one-image-out over the tuning images, fitted on the tuning images and scored on the held-out ones, and
leave-one-image-out over all images. Nothing here is used by ``nas``: the classifier stays the rules of
``nas.sr.region_classes`` (BENCHMARKS.md, "Region classes (issue 32)", says why). It fits the four classes the
tiles were labelled in (``LABELLED``: texture and periodic apart), part of the measurement behind the classifier's
one class of detail.

The 14 features were kept from 22 candidates by dropping one at a time while the leave-one-image-out score over the
tuning images (the lower of periodic and texture recall plus half the agreement) did not fall, and 7 further
candidates added to them did not raise it; so the first matrix is optimistic, and the held-out matrix, computed
once after the choice, is the clean test.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage, optimize

from benchmarks.region_classes import (
    DATA,
    HELD_OUT,
    LABELLED,
    LABELS,
    TUNE,
    Label,
    confusion,
    read_labels,
    table,
    tiles,
)
from nas.sr import region_classes as rc

Array = npt.NDArray[np.float64]
BINS = 12  # orientation bins over 180 degrees
FAST = 6.0  # cycles per tile: the spectrum above this is fine structure


@dataclass(frozen=True)
class TileStats:
    """What several features share, computed once per tile."""

    y: Array
    gradients: tuple[Array, Array]
    magnitude: Array
    g95: float
    power: Array  # windowed power spectrum of the plane residual, components under MIN_CYCLES zeroed
    total: float  # that spectrum's power but the mean's, slow components included
    radius: Array  # cycles per tile of each spectral component
    angle: Array  # direction in [0, pi) of each spectral component
    acf: Array  # autocorrelation of the plane residual within half the tile, lag 0 in the middle
    lag: Array  # length of each lag of ``acf``


def tile_stats(tile: Array) -> TileStats:
    """The shared measurements of one tile of Y (0..255)."""
    y = np.asarray(tile, np.float64)
    gy, gx = rc.smoothed_gradients(y)
    magnitude = np.hypot(gx, gy)
    h, w = y.shape
    residual = rc.plane_residual(y)
    power = np.abs(np.fft.fft2(residual * np.outer(np.hanning(h), np.hanning(w)))) ** 2
    ky, kx = np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij")
    radius = np.hypot(ky, kx)
    acf = rc.autocorrelation(residual)
    ry, rx = h // 2, w // 2
    rows, cols = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    return TileStats(
        y=y,
        gradients=(gy, gx),
        magnitude=magnitude,
        g95=float(np.percentile(magnitude, 95)),
        power=np.where(radius >= rc.MIN_CYCLES, power, 0.0),
        total=float(power.sum() - power[0, 0]),
        radius=radius,
        angle=np.mod(np.arctan2(ky, kx), np.pi),
        acf=acf[h - ry : h + ry + 1, w - rx : w + rx + 1],
        lag=np.hypot(rows, cols).astype(np.float64),
    )


def entropy(weights: Array) -> float:
    """Entropy of a histogram, over that of a uniform one: 0 for one bin, 1 for all alike."""
    p = weights[weights > 0] / max(float(weights.sum()), 1e-12)
    return float(-(p * np.log(p)).sum() / math.log(len(weights)))


def local_coherence(s: TileStats, sigma: float = 2.0) -> float:
    """Coherence of the structure tensor averaged over ``sigma`` pixels, weighted by gradient energy: high for lines
    and stripes even where a lattice has two orientations, low for texture."""
    gy, gx = s.gradients
    jxx, jyy, jxy = (ndimage.gaussian_filter(a, sigma) for a in (gx * gx, gy * gy, gx * gy))
    trace = jxx + jyy
    coh = np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy**2) / np.maximum(trace, 1e-9)
    return float((coh * trace).sum() / max(float(trace.sum()), 1e-9))


def orientation_entropy(s: TileStats) -> float:
    """How evenly the gradient energy spreads over orientations (texture: near 1)."""
    gy, gx = s.gradients
    hist, _ = np.histogram(np.mod(np.arctan2(gy, gx), np.pi), bins=BINS, range=(0, np.pi), weights=s.magnitude)
    return entropy(hist.astype(np.float64))


def spectral_entropy(s: TileStats) -> float:
    """How evenly the spectral power spreads over directions."""
    keep = s.radius >= rc.MIN_CYCLES
    hist, _ = np.histogram(s.angle[keep], bins=BINS, range=(0, np.pi), weights=s.power[keep])
    return entropy(hist.astype(np.float64))


def top_share(s: TileStats, count: int) -> float:
    """Share of the power (from MIN_CYCLES up) in the ``count`` strongest components."""
    ranked = np.sort(s.power.ravel())[::-1]
    return float(ranked[:count].sum() / max(float(ranked.sum()), 1e-12))


def spectral_peaks(s: TileStats) -> float:
    """log(1 + local maxima of the spectrum above 5 % of its largest component)."""
    shifted = np.fft.fftshift(s.power)
    peaks = (shifted == ndimage.maximum_filter(shifted, 3)) & (shifted > 0.05 * shifted.max())
    return math.log1p(int(peaks.sum()))


def fine_share(s: TileStats) -> float:
    """Share of the power (all but the mean) above ``FAST`` cycles per tile."""
    return float(s.power[s.radius >= FAST].sum() / max(s.total, 1e-12))


def repeat_peaks(s: TileStats) -> float:
    """log(1 + autocorrelation peaks above 0.2 at least MIN_LAG away): a lattice has many."""
    peaks = (s.acf == ndimage.maximum_filter(s.acf, 3)) & (s.acf > 0.2) & (s.lag >= rc.MIN_LAG)
    return math.log1p(int(peaks.sum()))


def zero_crossings(s: TileStats) -> float:
    """Crossings of a Laplacian of Gaussian (1.5 px) per pixel with a step of at least 10 % of ``g95``."""
    lap = ndimage.gaussian_laplace(s.y, 1.5)
    count = 0
    for axis in (0, 1):
        a, b = np.moveaxis(lap, axis, 0)[:-1], np.moveaxis(lap, axis, 0)[1:]
        count += int(((np.sign(a) != np.sign(b)) & (np.abs(b - a) > 0.1 * s.g95)).sum())
    return count / s.y.size


FEATURES: dict[str, Callable[[TileStats], float]] = {
    "log gradient p95": lambda s: math.log1p(s.g95),
    "local coherence": local_coherence,
    "orientation entropy": orientation_entropy,
    "log alternations": lambda s: math.log1p(rc.alternations(s.y, s.gradients)),
    "repeat strength": lambda s: rc.repeat_strength(s.y),
    "top-2 spectral share": lambda s: top_share(s, 2),
    "top-8 spectral share": lambda s: top_share(s, 8),
    "log spectral peaks": spectral_peaks,
    "spectral entropy": spectral_entropy,
    "fine share": fine_share,
    "log autocorrelation peaks": repeat_peaks,
    "autocorrelation min (10 px)": lambda s: float(s.acf[s.lag <= 10].min()),
    "zero crossings": zero_crossings,
    "gradient median / p95": lambda s: float(np.median(s.magnitude)) / max(s.g95, 1e-9),
}


def features(pixels: Sequence[Array]) -> Array:
    """One row of ``FEATURES`` per tile."""
    rows = []
    for tile in pixels:
        s = tile_stats(tile)
        rows.append([f(s) for f in FEATURES.values()])
    return np.array(rows, dtype=np.float64)


@dataclass(frozen=True)
class Logistic:
    """A multinomial logistic regression on standardised features."""

    mean: Array
    scale: Array
    weights: Array  # features x classes
    bias: Array

    def predict(self, x: Array) -> npt.NDArray[np.int64]:
        return np.asarray(np.argmax(((x - self.mean) / self.scale) @ self.weights + self.bias, axis=1), np.int64)


def fit(x: Array, y: npt.NDArray[np.int64], l2: float, classes: int = len(LABELLED)) -> Logistic:
    """Weighted cross-entropy (each class weighing as much as the others) plus ``l2`` times the squared weights,
    minimised by L-BFGS; a class absent from ``y`` gets no weight."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    n, d = z.shape
    counts = np.bincount(y, minlength=classes)
    sample = (n / (classes * np.maximum(counts, 1)))[y]
    sample /= sample.sum()
    onehot = np.eye(classes)[y]

    def loss(theta: Array) -> tuple[float, Array]:
        w, b = theta[: d * classes].reshape(d, classes), theta[d * classes :]
        logits = z @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        value = -float((sample * np.log(p[np.arange(n), y] + 1e-12)).sum()) + l2 * float((w * w).sum())
        g = (p - onehot) * sample[:, None]
        return value, np.concatenate([(z.T @ g + 2.0 * l2 * w).ravel(), g.sum(axis=0)])

    res = optimize.minimize(loss, np.zeros(d * classes + classes), jac=True, method="L-BFGS-B")
    return Logistic(mean, scale, res.x[: d * classes].reshape(d, classes), res.x[d * classes :])


def leave_one_image_out(
    x: Array, y: npt.NDArray[np.int64], images: npt.NDArray[np.str_], l2: float
) -> npt.NDArray[np.int64]:
    """Each image's tiles predicted by a model fitted to the other images' tiles."""
    out = np.empty(len(y), dtype=np.int64)
    for image in np.unique(images):
        test = images == image
        out[test] = fit(x[~test], y[~test], l2).predict(x[test])
    return out


def measured(labels: Sequence[Label], x: Array, l2: float) -> dict[str, tuple[list[str], list[str]]]:
    """(labels, predictions) of each measurement."""
    y = np.array([LABELLED.index(lab.label) for lab in labels], dtype=np.int64)
    images = np.array([f"{lab.folder}/{lab.image}" for lab in labels])
    split = np.array([lab.split for lab in labels])
    tune, held = split == TUNE, split == HELD_OUT
    names = np.array(LABELLED)

    def pair(members: npt.NDArray[np.bool_], predicted: npt.NDArray[np.int64]) -> tuple[list[str], list[str]]:
        return list(names[y[members]]), list(names[predicted])

    return {
        "leave one tuning image out (features chosen on these)": pair(
            tune, leave_one_image_out(x[tune], y[tune], images[tune], l2)
        ),
        "fitted on the tuning images, the held-out images": pair(held, fit(x[tune], y[tune], l2).predict(x[held])),
        "leave one image out, all 20 images": pair(np.ones(len(y), bool), leave_one_image_out(x, y, images, l2)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA, help="folder holding the labels' image folders")
    p.add_argument("--labels", type=Path, default=LABELS)
    p.add_argument("--l2", type=float, default=0.03, help="penalty on the squared standardised weights")
    args = p.parse_args(argv)
    labels = read_labels(args.labels)
    x = features(tiles(labels, args.data))
    for title, (truth, predicted) in measured(labels, x, args.l2).items():
        print("\n".join([*table(confusion(truth, predicted, LABELLED), title, classes=LABELLED), ""]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
