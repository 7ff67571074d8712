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

Nothing here is trained, yet the scores of a full-size network cost as much as a short proxy's training:
``plan_for`` chooses, once per study and budget, the scores that fit in the study's share of the training
(``StudyDef.zero_cost_share``), most telling first; every score kept is computed as above, so a score means
the same in every study.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from space import analytic_cost
from space.choices import SpaceDef
from studies.budget import ProxyBudget

ZC_NAMES = ("grad_norm", "snip", "synflow", "fisher", "jacob_cov", "zico")
JACOB_K = 1e-5  # NASWOT's regulariser of the correlation matrix's eigenvalues
PER_IMAGE = 8

# Most telling first: Kendall tau against the 3x PSNR (BENCHMARKS.md, "Every predictor against 3x"); a plan keeps
# a score only when it still fits, so a cheap one later in the order can join when a dearer one did not.
PREFERENCE = ("synflow", "snip", "grad_norm", "zico", "fisher", "jacob_cov")

# What each score costs in forward + backward passes of one full-size image at the proxy's patch, against a
# training step's pass per image (CPU, measured: BENCHMARKS.md "Zero-cost and start-up"): synflow is one image
# in float64; zico one backward per image, each with its own overhead; snip and grad_norm share one batch pass.
PASSES: dict[str, Callable[[int, int], float]] = {
    "synflow": lambda batch, per_image: 4.0,
    "snip": lambda batch, per_image: float(batch),
    "grad_norm": lambda batch, per_image: float(batch),
    "zico": lambda batch, per_image: 2.5 * per_image,
    "fisher": lambda batch, per_image: 1.2 * batch,
    "jacob_cov": lambda batch, per_image: float(per_image),
}
SHARED_PASS = {"snip": "grad_norm", "grad_norm": "snip"}  # one batch gradient serves both
# The passes above run low on multi-branch units (more, smaller ops): BENCHMARKS.md, "Zero-cost and start-up".
MARGIN = 2.0


@dataclass(frozen=True)
class ZcPlan:
    """The scores a study's trials get at one budget, and what they cost as a share of its proxy training."""

    names: tuple[str, ...]
    share: float  # planned cost / the training's, for the space's worst full-size to proxy MAC ratio, with MARGIN
    limit: float  # the study's zero_cost_share (0: none wanted)

    def as_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "share": round(self.share, 4), "limit": self.limit}


def worst_ratio(space: SpaceDef, budget: ProxyBudget) -> float:
    """The most MACs a full-size network of the space has per MAC of its proxy-size network (the one trained).

    A layer-wise network mixes the uniform points' units layer by layer, so its full size is at most their
    largest and its proxy at least their smallest (the bound assumes one unit is dearest at every layer)."""
    points = [spec for _, spec in space.uniform_points()]
    full = [analytic_cost(s, budget.patch).macs for s in points]
    proxy = [analytic_cost(s.resized(budget.width, budget.blocks), budget.patch).macs for s in points]
    if space.layerwise:
        return max(full) / min(proxy)
    return max(f / p for f, p in zip(full, proxy, strict=True))


@functools.lru_cache(maxsize=64)
def plan_for(space: SpaceDef, budget: ProxyBudget, limit: float) -> ZcPlan:
    """The scores, most telling first, whose cost stays within ``limit`` of the proxy training's, for any
    architecture of ``space`` (the same for every trial of a study, so its scores compare)."""
    training = budget.iterations * budget.batch / worst_ratio(space, budget)  # in full-size image passes
    per_image = min(PER_IMAGE, budget.batch)
    chosen: list[str] = []
    spent = 0.0
    for name in PREFERENCE:
        cost = 0.0 if SHARED_PASS.get(name) in chosen else PASSES[name](budget.batch, per_image)
        if (spent + cost) * MARGIN <= limit * training:
            chosen.append(name)
            spent += cost
    return ZcPlan(tuple(n for n in ZC_NAMES if n in chosen), spent * MARGIN / training, limit)


def zero_cost_scores(
    model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, names: Iterable[str] = ZC_NAMES
) -> dict[str, float]:
    """The zero-cost scores ``names`` of ``model`` (untrained) on the batch ``lr`` -> ``hr``; the model is left
    untouched."""
    wanted = tuple(names)
    unknown = sorted(set(wanted) - set(ZC_NAMES))
    if unknown:
        raise ValueError(f"unknown zero-cost scores {unknown} (allowed: {', '.join(ZC_NAMES)})")
    out: dict[str, float] = {}
    if "grad_norm" in wanted or "snip" in wanted:
        out.update(_gradient_scores(model, lr, hr))
    later = {
        "synflow": lambda: synflow(model, lr.shape),
        "fisher": lambda: fisher(copy.deepcopy(model).train(), lr, hr),
        "jacob_cov": lambda: jacob_cov(copy.deepcopy(model), lr[:PER_IMAGE]),
        "zico": lambda: zico(copy.deepcopy(model), lr[:PER_IMAGE], hr[:PER_IMAGE]),
    }
    out.update({name: score() for name, score in later.items() if name in wanted})
    return {name: out[name] for name in ZC_NAMES if name in wanted}


def _gradient_scores(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
    """grad_norm and snip, from one batch gradient."""
    probe = copy.deepcopy(model).train()
    grads = _batch_grads(probe, lr, hr)
    params = [p for p in probe.parameters() if p.requires_grad]
    return {
        "grad_norm": float(sum(g.norm() for g in grads)),
        "snip": float(sum((p.detach() * g).abs().sum() for p, g in zip(params, grads, strict=True))),
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
