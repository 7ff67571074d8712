"""Statistics for design-space analysis: pure numpy/scipy, no torch, no optuna.

Design-space comparison follows Radosavovic et al., "On Network Design Spaces for Visual
Recognition" (pycls): compare sub-spaces by the (complexity-normalised) empirical distribution
of their models' errors, with bootstrap bands and permutation tests instead of single best
models.  Proxy fidelity and seed noise are ``nas.analysis.proxy_stats``.

Every random function takes an explicit ``np.random.Generator`` so a result is reproducible.

Examples::

    norm = complexity_weights([macs_a, macs_b], bins=8)
    result = permutation_test(psnr_a, psnr_b, strata_a=norm.strata[0], strata_b=norm.strata[1],
                              rng=np.random.default_rng(0))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nas.analysis.inputs import Array, IntArray, finite_vector, interval_quantiles, resample_count
from nas.confidence import LEVEL

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


# ---- input checks ----


def _weights(w: npt.ArrayLike | None, n: int, name: str) -> Array:
    """Weights of length ``n`` (uniform when None), non-negative with a positive sum."""
    if w is None:
        return np.ones(n)
    arr = finite_vector(w, name)
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


# ---- empirical distributions ----


def _edf_rows(sorted_values: Array, weight_rows: Array, grid: Array) -> Array:
    """Weighted EDFs at ``grid`` for many weight rows (aligned with ascending ``sorted_values``) at once."""
    cum = np.cumsum(weight_rows, axis=1)
    cum = np.concatenate([np.zeros((cum.shape[0], 1)), cum], axis=1)
    idx = np.searchsorted(sorted_values, grid, side="right")
    return cum[:, idx] / cum[:, -1:]


def edf(values: npt.ArrayLike, grid: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> Array:
    """Weighted empirical distribution F(x) = sum_i w_i [v_i <= x] / sum_i w_i at each grid point."""
    v = finite_vector(values, "values")
    w = _weights(weights, v.size, "weights")
    order = np.argsort(v, kind="stable")
    return _edf_rows(v[order], w[order][None, :], finite_vector(grid, "grid"))[0]


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
    v = finite_vector(values, "values")
    w, g = _weights(weights, v.size, "weights"), finite_vector(grid, "grid")
    lo, hi = interval_quantiles(level)
    counts = rng.multinomial(v.size, np.full(v.size, 1 / v.size), size=resample_count(n_boot, "n_boot"))
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
    edges = finite_vector(bins, "bins")
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
    comps = [finite_vector(g, f"groups[{i}]") for i, g in enumerate(groups)]
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
    va, vb = finite_vector(a, "a"), finite_vector(b, "b")
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
    va, vb = finite_vector(a, "a"), finite_vector(b, "b")
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
    shuffled = permute_within_strata(observed[0], within, resample_count(n_perm, "n_perm"), rng)
    perm_stats = _ks_rows(pooled, *_group_weights(shuffled, strata, w))
    p_value = (int(np.sum(perm_stats >= stat - TIE_TOL)) + 1) / (n_perm + 1)
    how = "stratified" if strata is not None else ("weighted" if wa is not None or wb is not None else "plain")
    return TestResult(stat, p_value, n_perm, f"{how} two-sample KS, label permutation")
