"""Torch backbones built from an ArchSpec through one conv-unit factory.

``build_model(spec)`` is a pure function of the spec; nothing here knows about search.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from backbones.carn import CARN
from backbones.srresnet import SRResNet
from backbones.unit import INIT_RULE, MSConvUnit, SingleConv, conv_unit, resample
from space.arch import ArchSpec

BACKBONES: dict[str, Callable[[ArchSpec], nn.Module]] = {"srresnet": SRResNet, "carn": CARN}


class SRModel(nn.Module):
    """A backbone plus reflect padding, so any LR size works when the coarsest branch needs a multiple."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.net = BACKBONES[spec.backbone](spec)
        self.upscale = spec.upscale
        self.multiple = 2 ** max(max(u.inputs.levels) for _, u in spec.site_units)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an N x 3 x H x W image batch, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h == 0 and pad_w == 0:
            return self.net(x)
        mode = "reflect" if h > pad_h and w > pad_w else "replicate"
        out = self.net(F.pad(x, (0, pad_w, 0, pad_h), mode=mode))
        return out[..., : h * self.upscale, : w * self.upscale]


def build_model(spec: ArchSpec) -> nn.Module:
    """The network a spec describes, freshly initialised."""
    return SRModel(spec)


__all__ = [
    "BACKBONES",
    "CARN",
    "INIT_RULE",
    "MSConvUnit",
    "SRModel",
    "SRResNet",
    "SingleConv",
    "build_model",
    "conv_unit",
    "resample",
]
