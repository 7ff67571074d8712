"""MO-ASHA's promotion rule on hand-made rungs: (-PSNR, MACs, params) losses, answers worked by hand."""

from __future__ import annotations

import math

import pytest

from nas.analysis.promotion import crowding, goes_on, promotable, promotion_order

# losses: -PSNR, G MACs, M params
RUNG = [
    (-30.0, 10.0, 1.0),  # 0: rank 0 (the cheapest)
    (-31.0, 20.0, 2.0),  # 1: rank 0 (the best)
    (-30.5, 15.0, 1.5),  # 2: rank 0, between 0 and 1
    (-29.0, 20.0, 2.0),  # 3: dominated by 1 and 2: rank 1
    (-28.0, 30.0, 3.0),  # 4: dominated by everyone: rank 2
    (-30.4, 15.0, 1.5),  # 5: dominated by 2 only: rank 1
]


def test_crowding_distance_by_hand():
    # rank 0 = {0, 1, 2}: 0 and 1 are extremes in every objective; 2 is halfway in all three: 3 * (2 * 0.5)
    assert list(crowding([RUNG[0], RUNG[1], RUNG[2]])) == [math.inf, math.inf, pytest.approx(3.0)]
    assert list(crowding([RUNG[3]])) == [math.inf]


def test_order_is_rank_then_crowding_then_psnr():
    # rank 0: the extremes 1 (-31) and 0 (-30) first, by PSNR; then 2.  rank 1: {3, 5} both extremes, 5 has
    # the better PSNR.  rank 2: 4.
    assert promotion_order(RUNG) == [1, 0, 2, 5, 3, 4]
    assert promotion_order([]) == []


def test_asha_promotes_the_top_floor_n_over_eta_not_yet_promoted():
    assert promotable(RUNG, promoted=(), eta=3) == [1, 0]  # floor(6 / 3) = 2
    assert promotable(RUNG, promoted={1}, eta=3) == [0]
    assert promotable(RUNG, promoted=(), eta=2) == [1, 0, 2]
    assert promotable(RUNG[:2], promoted=(), eta=3) == []  # 2 finished: floor(2 / 3) = 0, wait for more
    # a cheap, worse point is promoted before a costlier, better one of a lower rank: the front's low end
    cheap = [(-31.0, 20.0, 2.0), (-30.0, 21.0, 2.1), (-25.0, 1.0, 0.1)]
    assert promotable(cheap, promoted=(), eta=3) == [0]
    assert promotion_order(cheap) == [0, 2, 1]


def test_a_run_goes_on_when_among_the_first_ceil_n_over_eta_so_far():
    assert goes_on(RUNG[:1], 0, eta=3)  # the first run to reach the check always goes on: ceil(1 / 3) = 1
    assert goes_on(RUNG[:2], 1, eta=3) and not goes_on(RUNG[:2], 0, eta=3)  # 1 ranks first: ceil(2 / 3) = 1
    assert [goes_on(RUNG, i, eta=3) for i in range(6)] == [True, True, False, False, False, False]  # 2 of 6
    assert [goes_on(RUNG[:4], i, eta=3) for i in range(4)] == [True, True, False, False]  # ceil(4 / 3) = 2
    assert [goes_on(RUNG, i, eta=2) for i in range(6)] == [True, True, True, False, False, False]
