"""Branch-wise operations on multi-scale features (a tuple of tensors, one per branch).

Backbones use only these, so they work the same whatever unit fills a layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Branches = tuple[Tensor, ...]


def relu_(xs: Branches) -> Branches:
    """ReLU in place on every branch (units return tensors of their own, so this is safe)."""
    return tuple(F.relu_(x) for x in xs)


def leaky_relu_(xs: Branches, slope: float = 0.1) -> Branches:
    """LeakyReLU in place on every branch: it never goes silent, so a shallow stage cannot die."""
    return tuple(F.leaky_relu_(x, slope) for x in xs)


def add_(xs: Branches, ys: Branches) -> Branches:
    """xs += ys branch by branch (xs must be tensors the caller owns)."""
    return tuple(x.add_(y) for x, y in zip(xs, ys, strict=True))


def cat(parts: Sequence[Branches]) -> Branches:
    """Concatenate channels branch by branch (CARN's cascading)."""
    return tuple(torch.cat(branch, dim=1) for branch in zip(*parts, strict=True))


def pixel_shuffle(xs: Branches, factor: int) -> Branches:
    """Sub-pixel upsampling of each branch on its own."""
    return tuple(F.pixel_shuffle(x, factor) for x in xs)


def plus_bicubic(out: Tensor, x: Tensor, scale: int) -> Tensor:
    """``out`` plus a bicubic upsampling of the input ``x`` (the backbones' global skip).

    The upsampling runs on a contiguous (NCHW) copy of ``x``: on the CPU, bicubic of a channels-last
    3-channel image is slower than of a contiguous one; the values are the same.
    """
    skip = F.interpolate(x.contiguous(), scale_factor=float(scale), mode="bicubic", align_corners=False)
    return skip.add_(out)


class ResidualBlock(nn.Module):
    """conv - ReLU - conv, plus the identity; CARN's residual unit also ReLUs the sum (``relu_sum``)."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, relu_sum: bool = False) -> None:
        super().__init__()
        self.conv1, self.conv2, self.relu_sum = conv1, conv2, relu_sum

    def forward(self, xs: Branches) -> Branches:
        out = add_(self.conv2(relu_(self.conv1(xs))), xs)
        return relu_(out) if self.relu_sum else out
