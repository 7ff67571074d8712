"""nas.stats on synthetic data with hand-computed answers (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from nas.analysis.fronts import hypervolume
from nas.analysis.noise import noise_front
from nas.analysis.proxy_stats import paired_summary, rank_correlations, seeds_needed
from nas.analysis.stats import (
    bootstrap_band,
    complexity_weights,
    edf,
    ks_statistic,
    permutation_test,
    permute_within_strata,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- EDF and bootstrap band ----


def test_edf_counts_values_at_or_below_each_grid_point():
    # [1,2,3,4]: none <= 0, one <= 1, two <= 2.5, all four <= 4
    assert edf([1, 2, 3, 4], [0, 1, 2.5, 4]) == pytest.approx([0, 0.25, 0.5, 1])


def test_weighted_edf():
    # weights 1,1,2 over values 1,2,3 (total 4): F(1) = 1/4, F(2) = 2/4, F(3) = 4/4
    assert edf([3, 1, 2], [0.5, 1, 2, 3], weights=[2, 1, 1]) == pytest.approx([0, 0.25, 0.5, 1])


@pytest.mark.parametrize(
    ("values", "weights"),
    [([], None), ([[1, 2]], None), ([1, np.nan], None), ([1, 2], [1]), ([1, 2], [1, -1]), ([1, 2], [0, 0])],
)
def test_edf_rejects_bad_input(values, weights):
    with pytest.raises(ValueError):
        edf(values, [0], weights=weights)


def test_bootstrap_band_is_reproducible_and_brackets_the_edf():
    values = rng(1).normal(size=30)
    grid = np.linspace(-3, 3, 13)
    low, high = bootstrap_band(values, grid, n_boot=400, rng=rng(2))
    again = bootstrap_band(values, grid, n_boot=400, rng=rng(2))
    assert np.array_equal(low, again[0]) and np.array_equal(high, again[1])
    f = edf(values, grid)
    assert np.all(low <= f + 1e-12) and np.all(f <= high + 1e-12) and np.any(high - low > 0.1)


def test_bootstrap_band_resamples_weights_with_their_values():
    # value 0 has all the weight: every resample that draws it has F(0.5) = 1; resamples of only
    # value 1 (weight 0) are skipped, so the band at 0.5 is exactly [1, 1]
    low, high = bootstrap_band([0.0, 1.0], [0.5], weights=[1.0, 0.0], n_boot=200, rng=rng(3))
    assert low == pytest.approx([1.0]) and high == pytest.approx([1.0])


# ---- complexity normalisation ----


def test_complexity_weights_two_bins_by_hand():
    # log10 MACs: A = [0, 0, 1], B = [0, 1, 1, 2]; union range [0, 2], 2 bins -> edges 10**[0, 1, 2] = [1, 10, 100]
    # bins: [1, 10) and [10, 100]; A -> [0, 0, 1], B -> [0, 1, 1, 1]; both bins shared, each gets 1/2:
    # A: bin 0 split over 2 -> 1/4, 1/4; bin 1 -> 1/2.  B: bin 0 -> 1/2; bin 1 split over 3 -> 1/6 each
    norm = complexity_weights([np.array([1.0, 1, 10]), np.array([1.0, 10, 10, 100])], bins=2)
    assert norm.edges == pytest.approx([1, 10, 100])
    assert list(norm.shared_bins) == [0, 1]
    assert norm.weights[0] == pytest.approx([0.25, 0.25, 0.5])
    assert norm.weights[1] == pytest.approx([0.5, 1 / 6, 1 / 6, 1 / 6])
    assert [list(s) for s in norm.strata] == [[0, 0, 1], [0, 1, 1, 1]]


def test_complexity_weights_drop_bins_one_group_lacks():
    # 3 bins on log10 [0, 2]: edges 10**[0, 2/3, 4/3, 2]; A -> [0, 0, 1], B -> [0, 1, 1, 2]
    # bin 2 holds only B's 100-MAC model: weight 0.  Shared bins 0 and 1 get 1/2 each:
    # A: 1/4, 1/4, 1/2.  B: 1/2, 1/4, 1/4, 0
    norm = complexity_weights([[1.0, 1, 10], [1.0, 10, 10, 100]], bins=3)
    assert list(norm.shared_bins) == [0, 1]
    assert norm.weights[0] == pytest.approx([0.25, 0.25, 0.5])
    assert norm.weights[1] == pytest.approx([0.5, 0.25, 0.25, 0.0])
    assert all(w.sum() == pytest.approx(1.0) for w in norm.weights)


def test_complexity_weights_explicit_edges_leave_outsiders_at_zero():
    # edges [1, 10, 1000]: 0.5 MACs lies below the first edge (no bin, weight 0); bins [1, 10) and [10, 1000]
    # A = [0.5, 2, 20] -> [-1, 0, 1]; B = [3, 30] -> [0, 1]; each shared bin gets 1/2
    norm = complexity_weights([[0.5, 2, 20], [3, 30]], bins=np.array([1.0, 10, 1000]))
    assert norm.weights[0] == pytest.approx([0.0, 0.5, 0.5])
    assert list(norm.strata[0]) == [-1, 0, 1]


def test_complexity_weights_without_a_shared_bin_raise():
    # A only in [1, 10), B only in [10, 100]
    with pytest.raises(ValueError, match="every group"):
        complexity_weights([[1.0, 2], [50.0, 100]], bins=2)


@pytest.mark.parametrize("bins", [0, np.array([1.0]), np.array([10.0, 1])])
def test_complexity_weights_reject_bad_bins(bins):
    with pytest.raises(ValueError):
        complexity_weights([[1.0, 2], [1.0, 2]], bins=bins)


def test_complexity_weights_reject_non_positive_complexity():
    with pytest.raises(ValueError, match="positive"):
        complexity_weights([[0.0, 2], [1.0, 2]], bins=2)


# ---- KS distance and permutation tests ----


def test_ks_statistic_by_hand():
    # a = [1,2,3], b = [2,3,4,5]; on 1..5 F_a = 1/3, 2/3, 1, 1, 1 and F_b = 0, 1/4, 1/2, 3/4, 1
    # |diff| = 1/3, 5/12, 1/2, 1/4, 0 -> 1/2
    assert ks_statistic([1, 2, 3], [2, 3, 4, 5]) == pytest.approx(0.5)


def test_weighted_ks_statistic_by_hand():
    # F_a(1) = 3/4, F_b(1) = 1/4, both 1 at 2 -> 1/2
    assert ks_statistic([1, 2], [1, 2], wa=[3, 1], wb=[1, 3]) == pytest.approx(0.5)


def test_ks_statistic_matches_scipy_with_ties():
    gen = rng(4)
    a, b = gen.integers(0, 6, 25).astype(float), gen.integers(1, 7, 31).astype(float)
    assert ks_statistic(a, b) == pytest.approx(sps.ks_2samp(a, b).statistic)


def test_permutation_test_finds_a_two_sd_shift():
    gen = rng(5)
    result = permutation_test(gen.normal(0, 1, 40), gen.normal(2, 1, 40), n_perm=2000, rng=rng(6))
    assert result.p_value < 0.01 and result.n_perm == 2000
    # nothing of 2000 shuffles beats a 2-sd shift, so p is the floor 1/2001
    assert result.p_value == pytest.approx(1 / 2001)


def test_permutation_test_accepts_same_distribution():
    gen = rng(7)
    a, b = gen.normal(0, 1, 40), gen.normal(0, 1, 40)
    result = permutation_test(a, b, n_perm=2000, rng=rng(8))
    assert result.p_value > 0.05
    assert result.statistic == pytest.approx(sps.ks_2samp(a, b).statistic)
    assert "plain" in result.method


def test_permute_within_strata_keeps_each_strata_counts():
    labels = np.array([0, 0, 0, 1, 1, 0, 1, 1, 1])
    strata = np.array([0, 0, 1, 0, 1, 2, 2, 2, -1])
    shuffled = permute_within_strata(labels, strata, 50, rng(9))
    for s in np.unique(strata):
        in_s = strata == s
        assert np.all(shuffled[:, in_s].sum(axis=1) == labels[in_s].sum())
    assert np.all(shuffled[:, strata == -1] == 1)  # a stratum of one cannot move
    assert len({row.tobytes() for row in shuffled}) > 1


def _confounded_samples(seed: int = 11, n: int = 40) -> tuple[np.ndarray, ...]:
    """PSNR depends only on the complexity bin; A holds 3/4 bin-0 models, B 3/4 bin-1 ones."""
    gen = rng(seed)
    strata_a, strata_b = np.repeat([0, 1], [3 * n // 4, n // 4]), np.repeat([0, 1], [n // 4, 3 * n // 4])
    a = 3.0 * strata_a + gen.normal(0, 1, n)
    b = 3.0 * strata_b + gen.normal(0, 1, n)
    return a, b, strata_a, strata_b


def test_stratified_permutation_removes_a_complexity_confound():
    a, b, strata_a, strata_b = _confounded_samples()
    assert permutation_test(a, b, n_perm=500, rng=rng(11)).p_value < 0.01
    result = permutation_test(a, b, strata_a, strata_b, n_perm=500, rng=rng(11))
    assert result.p_value > 0.05 and "stratified" in result.method


def test_stratified_permutation_is_calibrated_under_the_null():
    # 200 null data sets: P(p <= 0.05) should be about 0.05; Binomial(200, 0.05) lies in [2, 24] with > 99 % chance
    p = [permutation_test(*_confounded_samples(s, 20), n_perm=99, rng=rng(1000 + s)).p_value for s in range(200)]
    assert 2 <= sum(v <= 0.05 for v in p) <= 24


def test_stratified_statistic_uses_complexity_weights():
    # the same equal-weight-per-shared-bin rule in both places: bins 0/1 as MACs 1 and 100 with 2 bins
    a, b, strata_a, strata_b = _confounded_samples()
    norm = complexity_weights([10.0 ** (2 * strata_a), 10.0 ** (2 * strata_b)], bins=2)
    result = permutation_test(a, b, *norm.strata, n_perm=10, rng=rng(12))
    assert result.statistic == pytest.approx(ks_statistic(a, b, *norm.weights))


def test_permutation_test_input_errors():
    with pytest.raises(ValueError, match="both"):
        permutation_test([1, 2], [3, 4], strata_a=[0, 0], rng=rng())
    with pytest.raises(ValueError, match="derived"):
        permutation_test([1, 2], [3, 4], [0, 0], [0, 0], wa=[1, 1], rng=rng())
    with pytest.raises(ValueError, match="integers"):
        permutation_test([1, 2], [3, 4], [0.5, 0], [0, 0], rng=rng())


# ---- rank correlations, seeds, paired summaries ----


def test_rank_correlations_of_monotone_data():
    x = np.arange(10.0)
    up = rank_correlations(x, x**3, n_boot=200, rng=rng(13))
    down = rank_correlations(x, -x, n_boot=200, rng=rng(13))
    assert (up.kendall_tau, up.tau_low, up.tau_high) == pytest.approx((1, 1, 1))
    assert (up.spearman_rho, up.rho_low, up.rho_high) == pytest.approx((1, 1, 1))
    assert (down.kendall_tau, down.spearman_rho) == pytest.approx((-1, -1))
    assert up.n == 10 and 0 < up.n_boot <= 200


def test_rank_correlation_intervals_contain_the_estimate():
    gen = rng(14)
    x = gen.normal(size=30)
    y = x + gen.normal(size=30)
    c = rank_correlations(x, y, n_boot=300, rng=rng(15))
    assert c.kendall_tau == pytest.approx(sps.kendalltau(x, y).statistic)
    assert c.tau_low <= c.kendall_tau <= c.tau_high and c.tau_high - c.tau_low > 0.05
    assert c.rho_low <= c.spearman_rho <= c.rho_high


def test_three_points_give_no_interval_but_say_why():
    """Resamples of 3 points that keep 3 distinct values are the sample itself: the interval would be the point."""
    c = rank_correlations([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], n_boot=200, rng=rng(16))
    assert c.kendall_tau == 1 and math.isnan(c.tau_low) and math.isnan(c.rho_high) and c.n_boot == 0
    assert c.interval_text(c.tau_low, c.tau_high) == "[not enough data: n = 3, 5 or more]"
    five = rank_correlations(np.arange(5.0), np.array([0.0, 2, 1, 3, 4]), n_boot=200, rng=rng(16))
    assert five.interval_text(five.tau_low, five.tau_high).startswith("[")
    assert five.tau_low < five.kendall_tau


@pytest.mark.parametrize(("x", "y"), [([1, 2], [1, 2]), ([1, 2, 3], [1, 2]), ([1, 1, 1], [1, 2, 3])])
def test_rank_correlations_reject_short_or_constant_input(x, y):
    with pytest.raises(ValueError):
        rank_correlations(x, y, n_boot=10, rng=rng())


def test_seeds_needed_by_hand():
    """z_0.975 = 1.959964, z_0.8 = 0.841621, (sum)^2 = 2.801585^2 = 7.848880.

    Unpaired sd 0.29, delta 0.3: 2 * 7.848880 * 0.0841 / 0.09 = 14.669 -> 15.
    Unpaired sd 0.29, delta 0.1: 2 * 7.848880 * 0.0841 / 0.01 = 132.018 -> 133 (not 132: ceil, not round).
    Paired sd 0.1, delta 0.1: 7.848880 -> 8.  Paired sd 0.01, delta 0.1: 0.078 -> floor of two seeds.
    """
    assert seeds_needed(0.29, 0.3) == 15
    assert seeds_needed(0.29, 0.1) == 133
    assert seeds_needed(0.1, 0.1, paired=True) == 8
    assert seeds_needed(0.01, 0.1, paired=True) == 2
    with pytest.raises(ValueError):
        seeds_needed(0.29, 0.0)


def test_paired_summary_by_hand():
    # d = a - b = [0.1, 0.2, 0.3]: mean 0.2, sd 0.1; sd_a = 0.2, sd_b = 0.1
    # t_{0.975, 2} = 4.302653; half width = 4.302653 * 0.1 / sqrt(3) = 0.248414
    p = paired_summary([30.0, 30.2, 30.4], [29.9, 30.0, 30.1])
    assert (p.mean_diff, p.sd_diff, p.sd_a, p.sd_b, p.n) == pytest.approx((0.2, 0.1, 0.2, 0.1, 3))
    assert (p.ci_low, p.ci_high) == pytest.approx((0.2 - 0.248414, 0.2 + 0.248414), abs=1e-6)
    with pytest.raises(ValueError):
        paired_summary([1.0, 2.0], [1.0])


# ---- hypervolume ----


def test_hypervolume_2d_by_hand():
    # staircase (1,3), (2,2), (3,1) under (4,4): strips x in [1,2) height 1, [2,3) height 2, [3,4) height 3 -> 6
    front = [[1, 3], [2, 2], [3, 1]]
    assert hypervolume(front, [4, 4]) == pytest.approx(6)
    # a dominated point, one outside the box and one on its boundary add nothing
    assert hypervolume([*front, [3, 3], [5, 0], [4, 0]], [4, 4]) == pytest.approx(6)
    assert hypervolume(np.empty((0, 2)), [4, 4]) == 0.0


def test_hypervolume_1d_and_3d_by_hand():
    assert hypervolume([[2], [3]], [5]) == pytest.approx(3)  # 5 - 2
    assert hypervolume([[0, 0, 0]], [1, 1, 1]) == pytest.approx(1)  # the unit cube
    # boxes of (0,1,1), (1,0,1), (1,1,0) under (2,2,2): 2 each; every pair and the triple meet in [1,2]^3 (volume 1)
    # inclusion-exclusion: 3*2 - 3*1 + 1 = 4
    assert hypervolume([[0, 1, 1], [1, 0, 1], [1, 1, 0]], [2, 2, 2]) == pytest.approx(4)


def test_hypervolume_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="points"):
        hypervolume([[1, 2, 3]], [4, 4])


@pytest.mark.parametrize(("n", "d"), [(40, 2), (30, 3), (15, 4)])
def test_hypervolume_matches_optuna(n, d):
    optuna_hv = pytest.importorskip("optuna._hypervolume", reason="this optuna has no optuna._hypervolume")
    if not hasattr(optuna_hv, "compute_hypervolume"):
        pytest.skip("optuna._hypervolume has no compute_hypervolume")
    points = rng(16 + d).random((n, d))
    reference = np.full(d, 1.1)
    assert hypervolume(points, reference) == pytest.approx(optuna_hv.compute_hypervolume(points, reference))


# ---- noise-aware front ----


def test_noise_front_by_hand():
    # one cost (MACs); eps between any two points = 1.96 * sqrt(0.05^2 + 0.05^2) = 0.1386
    costs = np.array([[1.0], [2.0], [3.0], [3.0], [2.0]])
    mean = np.array([30.0, 30.5, 30.45, 30.2, 30.5])
    se = np.full(5, 0.05)
    # 0: cheapest -> front.  1 and 4: identical -> both front.
    # 2: point 1 is cheaper and 0.05 dB better, less than eps -> tied.  3: 0.3 dB worse than 1 -> dominated
    assert noise_front(costs, mean, se) == ["front", "front", "tied", "dominated", "front"]
    # with no noise 2 is simply dominated
    assert noise_front(costs, mean, np.zeros(5)) == ["front", "front", "dominated", "dominated", "front"]


def test_noise_front_equal_psnr_but_costlier_is_tied_only_with_noise():
    # same PSNR, point 1 costs more: dominated exactly when se = 0, within noise otherwise
    costs, mean = np.array([[1.0, 5.0], [1.0, 6.0]]), np.array([30.0, 30.0])
    assert noise_front(costs, mean, np.zeros(2)) == ["front", "dominated"]
    assert noise_front(costs, mean, np.full(2, 0.1)) == ["front", "tied"]


def _pareto_front(costs: np.ndarray, psnr: np.ndarray) -> list[bool]:
    """Brute force: no other point is no worse everywhere and better somewhere."""
    n = len(psnr)

    def dominates(j: int, i: int) -> bool:
        no_worse = bool(np.all(costs[j] <= costs[i]) and psnr[j] >= psnr[i])
        return no_worse and bool(np.any(costs[j] < costs[i]) or psnr[j] > psnr[i])

    return [not any(dominates(j, i) for j in range(n)) for i in range(n)]


def test_noise_front_without_noise_is_the_pareto_front():
    gen = rng(17)
    costs = gen.integers(0, 5, (60, 2)).astype(float)  # small integers: many ties
    psnr = gen.integers(0, 5, 60).astype(float)
    labels = noise_front(costs, psnr, np.zeros(60))
    assert [label == "front" for label in labels] == _pareto_front(costs, psnr)
    assert set(labels) == {"front", "dominated"}
    noisy = noise_front(costs, psnr, np.full(60, 0.5))
    assert [label == "front" for label in noisy] == _pareto_front(costs, psnr)  # the front ignores the noise


def test_noise_front_rejects_bad_input():
    with pytest.raises(ValueError, match="disagree"):
        noise_front(np.ones((3, 1)), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        noise_front(np.ones((2, 1)), np.ones(2), np.array([0.1, -0.1]))
    with pytest.raises(ValueError, match=r"\(n, k\)"):
        noise_front(np.ones(2), np.ones(2), np.ones(2))


def test_hand_numbers_are_consistent():
    # guard the hand arithmetic used above against typos
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert z**2 == pytest.approx(7.848880, abs=1e-6)
    assert 1.96 * math.sqrt(2 * 0.05**2) == pytest.approx(0.1386, abs=1e-4)


def test_vectorised_rank_correlations_equal_scipy_row_by_row():
    from scipy import stats as sps

    from nas.analysis.proxy_stats import _rank_rows

    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, size=(50, 9)).astype(float)  # many ties, as bootstrap resamples have
    y = x + rng.integers(0, 3, size=(50, 9))
    keep = (np.ptp(x, axis=1) > 0) & (np.ptp(y, axis=1) > 0)
    tau, rho = _rank_rows(x[keep], y[keep])
    for t, r, a, b in zip(tau, rho, x[keep], y[keep], strict=True):
        assert t == pytest.approx(sps.kendalltau(a, b).statistic, abs=1e-12)
        assert r == pytest.approx(sps.spearmanr(a, b).statistic, abs=1e-12)
