"""Zero-cost proxies on a one-conv linear network, where each score has a closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nas.measure.zero_cost import JACOB_K, PER_IMAGE, ZC_NAMES, fisher, jacob_cov, synflow, zero_cost_scores, zico


@pytest.fixture
def linear() -> tuple[torch.nn.Conv2d, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 2, 1).double()
    return conv, torch.rand(10, 3, 4, 5, dtype=torch.float64), torch.rand(10, 2, 4, 5, dtype=torch.float64)


def l1_weight_grad(w: np.ndarray, b: np.ndarray, x: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """dL/dW of L = mean |W x + b - hr| over every element, for a 1x1 conv (x: N x C x H x W)."""
    y = np.einsum("oi,nihw->nohw", w, x) + b[None, :, None, None]
    return np.einsum("nohw,nihw->oi", np.sign(y - hr), x) / y.size


def test_grad_norm_and_snip_are_the_l1_gradients(linear):
    conv, x, hr = linear
    w, b = conv.weight.detach().numpy()[:, :, 0, 0], conv.bias.detach().numpy()
    gw = l1_weight_grad(w, b, x.numpy(), hr.numpy())
    y = np.einsum("oi,nihw->nohw", w, x.numpy()) + b[None, :, None, None]
    gb = np.sign(y - hr.numpy()).sum(axis=(0, 2, 3)) / y.size
    scores = zero_cost_scores(conv, x, hr)
    assert set(scores) == set(ZC_NAMES)
    assert scores["grad_norm"] == pytest.approx(np.linalg.norm(gw) + np.linalg.norm(gb))
    assert scores["snip"] == pytest.approx(np.abs(w * gw).sum() + np.abs(b * gb).sum())


def test_synflow_of_a_linear_layer_is_its_summed_positive_output(linear):
    conv, x, _ = linear
    # R = HW (sum|W| + sum|b|) and dR/dW = dR/db = HW, so sum |theta * dR/dtheta| = R
    expected = 4 * 5 * (conv.weight.abs().sum() + conv.bias.abs().sum()).item()
    assert synflow(conv, x.shape) == pytest.approx(math.log(expected))


def test_fisher_of_a_linear_layer_is_its_output_times_the_l1_gradient(linear):
    conv, x, hr = linear
    w, b = conv.weight.detach().numpy()[:, :, 0, 0], conv.bias.detach().numpy()
    y = np.einsum("oi,nihw->nohw", w, x.numpy()) + b[None, :, None, None]
    g = np.sign(y - hr.numpy()) / y.size  # dL/dy of the mean absolute error
    expected = 0.5 * ((y * g).sum(axis=(2, 3)) ** 2).mean(axis=0).sum()
    assert fisher(conv, x, hr) == pytest.approx(expected)
    assert zero_cost_scores(conv, x, hr)["fisher"] == pytest.approx(expected)


def test_jacob_cov_of_a_linear_layer_sees_identical_jacobians(linear):
    conv, x, _ = linear
    n = 6  # every image's Jacobian is the same: the correlation matrix is all ones, eigenvalues n and 0
    expected = -(math.log(n + JACOB_K) + 1 / (n + JACOB_K) + (n - 1) * (math.log(JACOB_K) + 1 / JACOB_K))
    assert jacob_cov(conv, x[:n]) == pytest.approx(expected, rel=1e-6)


def test_zico_is_the_log_signal_to_noise_of_per_image_gradients(linear):
    conv, x, hr = linear
    w, b = conv.weight.detach().numpy()[:, :, 0, 0], conv.bias.detach().numpy()
    g = np.stack([l1_weight_grad(w, b, x[i : i + 1].numpy(), hr[i : i + 1].numpy()) for i in range(4)])
    expected = math.log((np.abs(g.mean(0)) / g.std(0, ddof=1)).sum())
    assert zico(conv, x[:4], hr[:4]) == pytest.approx(expected)


def test_the_model_is_left_as_it_was(linear):
    conv, x, hr = linear
    before = [p.detach().clone() for p in conv.parameters()]
    zero_cost_scores(conv, x, hr)
    assert all(torch.equal(a, p) for a, p in zip(before, conv.parameters(), strict=True))
    assert all(p.grad is None for p in conv.parameters()) and PER_IMAGE <= 10
