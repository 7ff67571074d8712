"""Zero-cost proxies for SR: scores of the untrained, full-size network on one fixed batch of LR patches.

Each is a published NAS proxy, adapted to a regression network trained with L1 (no labels, no
softmax): ``grad_norm`` (sum of the parameters' gradient norms), ``snip`` (sum |w * dL/dw|),
``synflow`` (the log of sum |w * dR/dw| with every weight made positive and an all-ones input, R
the summed output; float64, on a copy: the sum grows as a product over depth), ``fisher`` (sum over
every conv output channel of half the batch-mean squared sum over pixels of activation * dL/d
activation: the loss change from removing the channel, to second order), ``jacob_cov``
(NASWOT's first score: how little the input-output Jacobians of the batch's images correlate)
and ``zico`` (sum over conv modules of log(sum |mean g| / std g) over per-image gradients).
The batch is the proxy's own first batch, so every architecture of a seed is scored on the same
patches; ``jacob_cov`` and ``zico`` use its first ``PER_IMAGE`` patches (one backward pass each).
Nothing here is trained: seconds for all six.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ZC_NAMES = ("grad_norm", "snip", "synflow", "fisher", "jacob_cov", "zico")
JACOB_K = 1e-5  # NASWOT's regulariser of the correlation matrix's eigenvalues
PER_IMAGE = 8


def zero_cost_scores(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
    """Every zero-cost score of ``model`` (untrained) on the batch ``lr`` -> ``hr``; the model is left untouched."""
    probe = copy.deepcopy(model).train()
    grads = _batch_grads(probe, lr, hr)
    params = [p for p in probe.parameters() if p.requires_grad]
    return {
        "grad_norm": float(sum(g.norm() for g in grads)),
        "snip": float(sum((p.detach() * g).abs().sum() for p, g in zip(params, grads, strict=True))),
        "synflow": synflow(model, lr.shape),
        "fisher": fisher(copy.deepcopy(model).train(), lr, hr),
        "jacob_cov": jacob_cov(copy.deepcopy(model), lr[:PER_IMAGE]),
        "zico": zico(copy.deepcopy(model), lr[:PER_IMAGE], hr[:PER_IMAGE]),
    }


def _batch_grads(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    F.l1_loss(model(lr), hr).backward()
    return [
        p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
        for p in model.parameters()
        if p.requires_grad
    ]


def synflow(model: nn.Module, shape: torch.Size) -> float:
    """SynFlow on a float64 copy with |weights| and an all-ones input (data-free)."""
    probe = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in probe.parameters():
            p.abs_()
    probe.zero_grad(set_to_none=True)
    probe(torch.ones(1, *shape[1:], dtype=torch.float64)).sum().backward()
    score = sum(float((p.detach() * p.grad).abs().sum()) for p in probe.parameters() if p.grad is not None)
    return math.log(score) if score > 0 else float("-inf")


def fisher(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor) -> float:
    """Fisher information of every conv output channel, summed: 0.5 * mean over images of (sum_pixels a * dL/da)^2."""
    outputs: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        output.retain_grad()
        outputs.append(output)

    hooks = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        model.zero_grad(set_to_none=True)
        F.l1_loss(model(lr), hr).backward()
    finally:
        for h in hooks:
            h.remove()
    score = 0.0
    for a in outputs:
        if a.grad is not None:
            score += float((a.detach() * a.grad).sum(dim=(2, 3)).pow(2).mean(0).mul(0.5).sum())
    return score


def jacob_cov(model: nn.Module, lr: torch.Tensor) -> float:
    """NASWOT's jacob_cov: -sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the Jacobians' correlations."""
    x = lr.clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    assert x.grad is not None
    jac = x.grad.reshape(x.shape[0], -1).double().numpy()
    corr = np.nan_to_num(np.corrcoef(jac))
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + JACOB_K) + 1.0 / (v + JACOB_K)))


def zico(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor) -> float:
    """ZiCo: per conv module, log of sum over its weights of |mean gradient| / SD of gradients over the images."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    per_image: list[list[torch.Tensor]] = [[] for _ in convs]
    for i in range(lr.shape[0]):
        model.zero_grad(set_to_none=True)
        F.l1_loss(model(lr[i : i + 1]), hr[i : i + 1]).backward()
        for k, conv in enumerate(convs):
            g = conv.weight.grad
            per_image[k].append(g.detach().flatten().clone() if g is not None else torch.zeros(conv.weight.numel()))
    score = 0.0
    for grads in per_image:
        g = torch.stack(grads)
        mean, sd = g.mean(0).abs(), g.std(0)
        ratio = (mean[sd > 0] / sd[sd > 0]).sum().item()
        if ratio > 0:
            score += math.log(ratio)
    return score
