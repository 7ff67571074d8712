"""CARN (Ahn et al., ECCV 2018) with the paper's extra conv_hr, from any ArchSpec."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from backbones.features import Branches, ResidualBlock, cat, pixel_shuffle, plus_bicubic, relu_
from backbones.unit import conv_unit
from space.arch import ArchSpec
from space.layout import CARN_UNITS_PER_BLOCK

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K mean, as in the official CARN


class Cascade(nn.Module):
    """CARN's cascading: each stage's output is concatenated with all before it and fused by a 1x1 conv."""

    def __init__(self, stages: Sequence[nn.Module], fusions: Sequence[nn.Module]) -> None:
        super().__init__()
        self.stages, self.fusions = nn.ModuleList(stages), nn.ModuleList(fusions)

    def forward(self, xs: Branches) -> Branches:
        concat, out = xs, xs
        for stage, fusion in zip(self.stages, self.fusions, strict=True):
            concat = cat([concat, stage(out)])
            out = relu_(fusion(concat))
        return out


class CARN(nn.Module):
    """entry, cascading blocks of cascading residual units, sub-pixel upsampler, conv_hr, exit.

    The output adds a bicubic upsampling of the input (global residual learning, as our SRResNet):
    without it, the CPU proxy's short runs ended below bicubic for every named variant (BENCHMARKS.md, "A CARN
    proxy that learns"), so a study ranked noise.  It adds no parameters and no counted MACs.
    """

    rgb_mean: Tensor

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        units = {site.name: conv_unit(unit, site) for site, unit in spec.site_units}
        self.upscale = spec.upscale
        self.shuffles = tuple(site.shuffle for site in spec.layout.sites if site.name.startswith("up."))
        self.register_buffer("rgb_mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.entry = units["entry"]
        blocks = [self._block(units, b) for b in range(spec.blocks)]
        self.body = Cascade(blocks, [units[f"c{b}"] for b in range(spec.blocks)])
        self.up = nn.ModuleList(units[f"up.{i}"] for i in range(len(self.shuffles)))
        self.conv_hr, self.exit = units["conv_hr"], units["exit"]

    @staticmethod
    def _block(units: dict[str, nn.Module], b: int) -> Cascade:
        stages: list[nn.Module] = [
            ResidualBlock(units[f"b{b}.r{u}.conv1"], units[f"b{b}.r{u}.conv2"], relu_sum=True)
            for u in range(CARN_UNITS_PER_BLOCK)
        ]
        return Cascade(stages, [units[f"b{b}.c{u}"] for u in range(CARN_UNITS_PER_BLOCK)])

    def forward(self, x: Tensor) -> Tensor:
        feat = self.body(self.entry((x - self.rgb_mean,)))
        for up, factor in zip(self.up, self.shuffles, strict=True):
            feat = pixel_shuffle(relu_(up(feat)), factor)
        out = self.exit(relu_(self.conv_hr(feat)))[0]
        return plus_bicubic(out, x, self.upscale)
