"""Statistics for design-space and proxy-fidelity analysis: pure numpy/scipy, no torch, no optuna.

Design-space comparison follows Radosavovic et al., "On Network Design Spaces for Visual
Recognition" (pycls): compare sub-spaces by the (complexity-normalised) empirical distribution
of their models' errors, with bootstrap bands and permutation tests instead of single best
models.  Proxy fidelity is judged by rank correlation with intervals; seed noise by paired
summaries and a sample-size formula (the noise-aware front is ``nas.analysis.noise``).

Every random function takes an explicit ``np.random.Generator`` so a result is reproducible.

Examples::

    norm = complexity_weights([macs_a, macs_b], bins=8)
    result = permutation_test(psnr_a, psnr_b, strata_a=norm.strata[0], strata_b=norm.strata[1],
                              rng=np.random.default_rng(0))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from nas.confidence import LEVEL

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
MIN_INTERVAL_POINTS = 5  # fewer pairs: a percentile bootstrap of ranks is nearly a permutation of the sample
TIE_TOL = 1e-12  # a permuted statistic this close to the observed one counts as "at least as extreme"


# ---- result types (eq=False: they hold arrays, whose == is elementwise) ----


@dataclass(frozen=True, eq=False)
class Normalised:
    """Complexity-normalised weights per group, the log-complexity bin edges and the bins all groups share."""

    weights: tuple[Array, ...]  # per group, sums to 1; 0 for models outside the shared bins
    edges: Array  # bin edges in complexity units (binning is on log complexity)
    shared_bins: IntArray  # indices of the bins every group has a model in
    strata: tuple[IntArray, ...]  # per group, each model's bin index (-1: outside the edges)


@dataclass(frozen=True)
class TestResult:
    """A permutation test's statistic, its p-value and how it was obtained."""

    __test__ = False  # not a pytest test class, despite the name

    statistic: float
    p_value: float
    n_perm: int
    method: str


@dataclass(frozen=True)
class Correlations:
    """Kendall tau-b and Spearman rho with percentile-bootstrap intervals."""

    kendall_tau: float
    tau_low: float
    tau_high: float
    spearman_rho: float
    rho_low: float
    rho_high: float
    n: int
    n_boot: int  # resamples actually used (constant resamples are skipped; 0: too few pairs for an interval)

    def interval_text(self, low: float, high: float) -> str:
        """``[+0.21, +0.88]``, or why there is none."""
        if math.isnan(low):
            return f"[not enough data: n = {self.n}, {MIN_INTERVAL_POINTS} or more]"
        return f"[{low:+.2f}, {high:+.2f}]"


@dataclass(frozen=True)
class Paired:
    """Summary of per-seed differences a - b between two architectures trained with the same seeds."""

    mean_diff: float
    sd_diff: float
    sd_a: float
    sd_b: float
    n: int
    ci_low: float
    ci_high: float


# ---- input checks ----


def _vector(x: npt.ArrayLike, name: str) -> Array:
    """A non-empty, finite 1-D float64 copy of ``x``; bad input fails here, not deep in numpy."""
    arr = np.array(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _weights(w: npt.ArrayLike | None, n: int, name: str) -> Array:
    """Weights of length ``n`` (uniform when None), non-negative with a positive sum."""
    if w is None:
        return np.ones(n)
    arr = _vector(w, name)
    if arr.size != n:
        raise ValueError(f"{name} has {arr.size} entries for {n} values")
    if np.any(arr < 0) or arr.sum() <= 0:
        raise ValueError(f"{name} must be non-negative with a positive sum")
    return arr


def _strata(s: npt.ArrayLike, n: int, name: str) -> IntArray:
    """Integer stratum labels of length ``n`` (negative: in no stratum)."""
    arr = np.asarray(s)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be {n} integers, got shape {arr.shape} of {arr.dtype}")
    return arr.astype(np.intp)


def _level(level: float) -> tuple[float, float]:
    """Lower and upper percentile quantiles of a central ``level`` interval."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return (1 - level) / 2, (1 + level) / 2


def _count(n: int, name: str) -> int:
    """A positive resample count."""
    if n < 1:
        raise ValueError(f"{name} must be at least 1, got {n}")
    return n


# ---- empirical distributions ----


def _edf_rows(sorted_values: Array, weight_rows: Array, grid: Array) -> Array:
    """Weighted EDFs at ``grid`` for many weight rows (aligned with ascending ``sorted_values``) at once."""
    cum = np.cumsum(weight_rows, axis=1)
    cum = np.concatenate([np.zeros((cum.shape[0], 1)), cum], axis=1)
    idx = np.searchsorted(sorted_values, grid, side="right")
    return cum[:, idx] / cum[:, -1:]


def edf(values: npt.ArrayLike, grid: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> Array:
    """Weighted empirical distribution F(x) = sum_i w_i [v_i <= x] / sum_i w_i at each grid point."""
    v = _vector(values, "values")
    w = _weights(weights, v.size, "weights")
    order = np.argsort(v, kind="stable")
    return _edf_rows(v[order], w[order][None, :], _vector(grid, "grid"))[0]


def bootstrap_band(
    values: npt.ArrayLike,
    grid: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    n_boot: int = 1000,
    level: float = LEVEL,
    rng: np.random.Generator,
) -> tuple[Array, Array]:
    """Pointwise percentile band of the weighted EDF, resampling models (value and weight together).

    Each resample's weights are renormalised; a resample whose weights are all zero is skipped.
    """
    v = _vector(values, "values")
    w, g = _weights(weights, v.size, "weights"), _vector(grid, "grid")
    lo, hi = _level(level)
    counts = rng.multinomial(v.size, np.full(v.size, 1 / v.size), size=_count(n_boot, "n_boot"))
    rows = counts * w
    rows = rows[rows.sum(axis=1) > 0]
    if rows.shape[0] == 0:
        raise ValueError("every bootstrap resample had zero total weight")
    order = np.argsort(v, kind="stable")
    curves = _edf_rows(v[order], rows[:, order], g)
    return np.quantile(curves, lo, axis=0), np.quantile(curves, hi, axis=0)


# ---- complexity normalisation ----


def _stratum_weights(labels: IntArray, strata: IntArray, n_groups: int) -> Array:
    """Each model's weight within its group: equal total per stratum shared by all groups, split equally inside.

    ``labels`` is (m, N) group indices (one row per labelling), ``strata`` (N,) stratum ids;
    negative strata belong to no stratum.  The pycls rule behind complexity normalisation.
    """
    ids, s_idx = np.unique(strata, return_inverse=True)
    m, n_strata = labels.shape[0], ids.size
    cell_of = (np.arange(m)[:, None] * n_groups + labels) * n_strata + s_idx[None, :]  # (row, group, stratum)
    counts = np.bincount(cell_of.ravel(), minlength=m * n_groups * n_strata).reshape(m, n_groups, n_strata)
    shared = np.all(counts > 0, axis=1) & (ids >= 0)  # (m, S)
    n_shared = shared.sum(axis=1)
    if np.any(n_shared == 0):
        raise ValueError("no stratum (complexity bin) holds models of every group")
    denom = (counts * n_shared[:, None, None]).astype(np.float64)
    cell = np.divide(1.0, denom, out=np.zeros_like(denom), where=shared[:, None, :])
    return cell[np.arange(labels.shape[0])[:, None], labels, s_idx[None, :]]


def _log_edges(log_c: Array, bins: int | npt.ArrayLike) -> Array:
    """Log10 bin edges: ``bins`` equal-width bins over the data's range, or explicit complexity edges."""
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise ValueError(f"bins must be at least 1, got {bins}")
        return np.linspace(log_c.min(), log_c.max(), int(bins) + 1)
    edges = _vector(bins, "bins")
    if edges.size < 2 or np.any(edges <= 0) or np.any(np.diff(edges) <= 0):
        raise ValueError("explicit bin edges must be at least two positive, strictly increasing values")
    return np.log10(edges)


def _bin_index(log_c: Array, log_edges: Array) -> IntArray:
    """Bin of each value (the last bin includes its right edge); -1 outside the edges."""
    n_bins = log_edges.size - 1
    idx = np.searchsorted(log_edges, log_c, side="right") - 1
    idx[log_c == log_edges[-1]] = n_bins - 1
    idx[(log_c < log_edges[0]) | (log_c > log_edges[-1])] = -1
    return idx.astype(np.intp)


def complexity_weights(groups: Sequence[npt.ArrayLike], bins: int | npt.ArrayLike) -> Normalised:
    """pycls complexity normalisation: weights that give every group the same distribution over shared bins.

    Bins are on log complexity, shared by all groups (an int: equal-width bins over the union's
    range; else explicit edges in complexity units).  Only bins where every group has a model count.
    """
    if len(groups) < 1:
        raise ValueError("need at least one group")
    comps = [_vector(g, f"groups[{i}]") for i, g in enumerate(groups)]
    if any(np.any(c <= 0) for c in comps):
        raise ValueError("complexities must be positive (they are binned on a log scale)")
    log_c = np.log10(np.concatenate(comps))
    log_edges = _log_edges(log_c, bins)
    strata = _bin_index(log_c, log_edges)
    labels = np.repeat(np.arange(len(comps)), [c.size for c in comps])
    weights = _stratum_weights(labels[None, :], strata, len(comps))[0]
    cuts = np.cumsum([c.size for c in comps])[:-1]
    per_group = np.split(strata, cuts)
    in_bin = np.array([np.bincount(s[s >= 0], minlength=log_edges.size - 1) > 0 for s in per_group])
    return Normalised(
        weights=tuple(np.split(weights, cuts)),
        edges=10**log_edges,
        shared_bins=np.flatnonzero(np.all(in_bin, axis=0)).astype(np.intp),
        strata=tuple(per_group),
    )


# ---- two-sample tests ----


def _ks_rows(values: Array, wa_rows: Array, wb_rows: Array) -> Array:
    """Weighted KS distance for many weightings of the pooled ``values`` (0 weight = not in that sample)."""
    order = np.argsort(values, kind="stable")
    v = values[order]
    grid = np.unique(v)
    fa = _edf_rows(v, wa_rows[:, order], grid)
    fb = _edf_rows(v, wb_rows[:, order], grid)
    return np.abs(fa - fb).max(axis=1)


def ks_statistic(
    a: npt.ArrayLike, b: npt.ArrayLike, wa: npt.ArrayLike | None = None, wb: npt.ArrayLike | None = None
) -> float:
    """Weighted two-sample KS distance sup_x |F_a(x) - F_b(x)|, taken over the union of sample values."""
    va, vb = _vector(a, "a"), _vector(b, "b")
    wa_, wb_ = _weights(wa, va.size, "wa"), _weights(wb, vb.size, "wb")
    zeros_a, zeros_b = np.zeros(va.size), np.zeros(vb.size)
    pooled = np.concatenate([va, vb])
    return float(_ks_rows(pooled, np.concatenate([wa_, zeros_b])[None], np.concatenate([zeros_a, wb_])[None])[0])


def permute_within_strata(
    labels: npt.ArrayLike, strata: npt.ArrayLike, n: int, rng: np.random.Generator
) -> npt.NDArray[np.int_]:
    """``n`` random relabellings, shuffling labels only among models of the same stratum.

    Each stratum keeps its count of every label, so a complexity-matched comparison stays matched.
    """
    lab = np.asarray(labels)
    ranks = np.unique(_strata(strata, lab.size, "strata"), return_inverse=True)[1]
    positions = np.argsort(ranks + rng.random((n, lab.size)), axis=1)  # grouped by stratum, shuffled inside
    out = np.empty((n, lab.size), dtype=np.int_)
    grouped = lab[np.argsort(ranks, kind="stable")]
    np.put_along_axis(out, positions, np.broadcast_to(grouped, (n, lab.size)), axis=1)
    return out


def _group_weights(labels: npt.NDArray[np.int_], strata: IntArray | None, w: Array) -> tuple[Array, Array]:
    """Weight rows of samples a (label 0) and b (label 1): fixed ``w`` moving with the models, or stratum weights."""
    if strata is not None:
        full = _stratum_weights(labels.astype(np.intp), strata, 2)
        return full * (labels == 0), full * (labels == 1)
    wa, wb = w * (labels == 0), w * (labels == 1)
    if np.any(wa.sum(axis=1) <= 0) or np.any(wb.sum(axis=1) <= 0):
        raise ValueError("a permutation left a sample with zero total weight; pass strata instead of weights")
    return wa, wb


def permutation_test(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    strata_a: npt.ArrayLike | None = None,
    strata_b: npt.ArrayLike | None = None,
    wa: npt.ArrayLike | None = None,
    wb: npt.ArrayLike | None = None,
    *,
    n_perm: int = 2000,
    rng: np.random.Generator,
) -> TestResult:
    """Permutation p-value of the weighted KS distance, (#{perm >= observed} + 1) / (n_perm + 1).

    With strata, labels are shuffled within each stratum and each sample's weights follow the
    equal-weight-per-shared-stratum rule of ``complexity_weights`` (so strata and weights exclude
    each other).  Without strata, given weights move with their models.
    """
    va, vb = _vector(a, "a"), _vector(b, "b")
    if (strata_a is None) != (strata_b is None):
        raise ValueError("give strata for both samples or for neither")
    if strata_a is not None and (wa is not None or wb is not None):
        raise ValueError("with strata the weights are derived from them; do not pass wa/wb too")
    strata = None
    if strata_a is not None and strata_b is not None:
        strata = np.concatenate([_strata(strata_a, va.size, "strata_a"), _strata(strata_b, vb.size, "strata_b")])
    w = np.concatenate([_weights(wa, va.size, "wa"), _weights(wb, vb.size, "wb")])
    pooled = np.concatenate([va, vb])
    observed = np.repeat([0, 1], [va.size, vb.size])[None, :]
    stat = float(_ks_rows(pooled, *_group_weights(observed, strata, w))[0])
    within = strata if strata is not None else np.zeros(pooled.size, dtype=np.intp)  # one stratum: plain shuffle
    shuffled = permute_within_strata(observed[0], within, _count(n_perm, "n_perm"), rng)
    perm_stats = _ks_rows(pooled, *_group_weights(shuffled, strata, w))
    p_value = (int(np.sum(perm_stats >= stat - TIE_TOL)) + 1) / (n_perm + 1)
    how = "stratified" if strata is not None else ("weighted" if wa is not None or wb is not None else "plain")
    return TestResult(stat, p_value, n_perm, f"{how} two-sample KS, label permutation")


# ---- proxy fidelity and seed noise ----


def _rank_pair(x: Array, y: Array) -> tuple[float, float]:
    """Kendall tau-b and Spearman rho of one sample of pairs."""
    return float(sps.kendalltau(x, y).statistic), float(sps.spearmanr(x, y).statistic)


def _rank_rows(x: Array, y: Array) -> tuple[Array, Array]:
    """Kendall tau-b and Spearman rho of many samples at once (rows of x and y; no row constant).

    tau-b = sum sign(dx) sign(dy) / sqrt(sum sign(dx)^2 sum sign(dy)^2) over all ordered pairs;
    rho = Pearson correlation of average ranks.  Equal to scipy's row by row (a test checks it).
    """
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    tau = (sx * sy).sum(axis=(1, 2)) / np.sqrt((sx**2).sum(axis=(1, 2)) * (sy**2).sum(axis=(1, 2)))
    rx = sps.rankdata(x, axis=1) - (x.shape[1] + 1) / 2
    ry = sps.rankdata(y, axis=1) - (y.shape[1] + 1) / 2
    rho = (rx * ry).sum(axis=1) / np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    return tau, rho


def rank_correlations(
    x: npt.ArrayLike, y: npt.ArrayLike, *, n_boot: int = 2000, level: float = LEVEL, rng: np.random.Generator
) -> Correlations:
    """Kendall tau-b and Spearman rho between proxy and target, with percentile-bootstrap intervals over pairs.

    Resamples in which x or y is constant (correlation undefined) are skipped; ``n_boot`` in the result counts the rest.
    With fewer than ``MIN_INTERVAL_POINTS`` pairs the intervals are NaN (not enough data): the resamples of 3 points
    that keep 3 distinct values are the sample itself, so the interval would be the point (``[+1.00, +1.00]``).
    """
    vx, vy = _vector(x, "x"), _vector(y, "y")
    if vx.size != vy.size or vx.size < 3:
        raise ValueError(f"need two samples of equal length >= 3, got {vx.size} and {vy.size}")
    if np.ptp(vx) == 0 or np.ptp(vy) == 0:
        raise ValueError("x and y must each take at least two distinct values")
    lo, hi = _level(level)
    if vx.size < MIN_INTERVAL_POINTS:
        tau, rho = _rank_pair(vx, vy)
        nan = float("nan")
        return Correlations(tau, nan, nan, rho, nan, nan, vx.size, 0)
    draws = rng.integers(0, vx.size, size=(_count(n_boot, "n_boot"), vx.size))
    bx, by = vx[draws], vy[draws]
    usable = (np.ptp(bx, axis=1) > 0) & (np.ptp(by, axis=1) > 0)
    if not usable.any():
        raise ValueError("every bootstrap resample was constant")
    boot = np.stack(_rank_rows(bx[usable], by[usable]), axis=1)
    tau, rho = _rank_pair(vx, vy)
    (tau_low, rho_low), (tau_high, rho_high) = np.quantile(boot, [lo, hi], axis=0)
    return Correlations(tau, float(tau_low), float(tau_high), rho, float(rho_low), float(rho_high), vx.size, len(boot))


def seeds_needed(sd: float, delta: float, alpha: float = 0.05, power: float = 0.8, paired: bool = False) -> int:
    """Seeds per variant to resolve a difference ``delta`` at two-sided ``alpha`` with ``power`` (normal approximation).

    Unpaired: n = 2 (z_{1-alpha/2} + z_power)^2 sd^2 / delta^2; paired (sd of the differences): half that.
    At least 2, since a standard deviation needs two seeds.
    """
    if sd <= 0 or delta <= 0:
        raise ValueError(f"sd and delta must be positive, got sd={sd}, delta={delta}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must be in (0, 1), got alpha={alpha}, power={power}")
    z = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    n = (1 if paired else 2) * z**2 * sd**2 / delta**2
    return max(2, math.ceil(n - 1e-9))  # the tolerance keeps float noise from adding a seed


def paired_summary(a: npt.ArrayLike, b: npt.ArrayLike, level: float = LEVEL) -> Paired:
    """Mean and Student-t interval of per-seed differences a - b (same seeds: common random numbers)."""
    va, vb = _vector(a, "a"), _vector(b, "b")
    if va.size != vb.size or va.size < 2:
        raise ValueError(f"need paired samples of equal length >= 2, got {va.size} and {vb.size}")
    d = va - vb
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = float(sps.t.ppf(_level(level)[1], d.size - 1)) * sd / math.sqrt(d.size)
    return Paired(mean, sd, float(va.std(ddof=1)), float(vb.std(ddof=1)), d.size, mean - half, mean + half)
