"""SRResNet without batch norm (the paper's Table 2/4 layout), from any ArchSpec."""

from __future__ import annotations

from torch import Tensor, nn

from backbones.features import ResidualBlock, add_, leaky_relu_, pixel_shuffle, plus_bicubic, relu_
from backbones.unit import conv_unit
from space.arch import ArchSpec


class SRResNet(nn.Module):
    """conv_first, residual blocks, two trunk convs with a global skip, sub-pixel upsampler, conv_hr, conv_last.

    The output adds a bicubic upsampling of the input (global residual learning; with bilinear, as in
    MSRResNet, an untrained or short-trained network starts below bicubic: BENCHMARKS.md, "Proxy schedule").
    As in BasicSR's MSRResNet, LeakyReLU(0.1) follows conv_first, the upsampler and conv_hr (ReLU inside the blocks):
    with plain ReLU there, short training runs of multi-scale variants died (output = bilinear only).
    """

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        units = {site.name: conv_unit(unit, site) for site, unit in spec.site_units}
        self.upscale = spec.upscale
        self.shuffles = tuple(site.shuffle for site in spec.layout.sites if site.name.startswith("up."))
        self.conv_first = units["conv_first"]
        self.body = nn.Sequential(
            *(ResidualBlock(units[f"body.{b}.conv1"], units[f"body.{b}.conv2"]) for b in range(spec.blocks))
        )
        self.conv_body1, self.conv_body2 = units["conv_body1"], units["conv_body2"]
        self.up = nn.ModuleList(units[f"up.{i}"] for i in range(len(self.shuffles)))
        self.conv_hr, self.conv_last = units["conv_hr"], units["conv_last"]

    def forward(self, x: Tensor) -> Tensor:
        feat = leaky_relu_(self.conv_first((x,)))
        trunk = self.conv_body2(relu_(self.conv_body1(self.body(feat))))
        feat = add_(trunk, feat)
        for up, factor in zip(self.up, self.shuffles, strict=True):
            feat = leaky_relu_(pixel_shuffle(up(feat), factor))
        out = self.conv_last(leaky_relu_(self.conv_hr(feat)))[0]
        return plus_bicubic(out, x, self.upscale)
