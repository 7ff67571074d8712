"""Where the convs of each backbone sit: channels, kernel and resolution, without torch.

Both the analytic cost and the torch backbones read these tables, so the layout
is written once.  ``factor`` is the spatial size relative to the LR input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from space.errors import require

UPSCALES = (2, 3, 4)
IMAGE_CHANNELS = 3


@dataclass(frozen=True)
class ConvSite:
    """One conv layer of a backbone: the place a unit is put."""

    name: str
    c_in: int
    c_out: int
    kernel: int
    factor: int = 1
    shuffle: int = 1  # pixel-shuffle factor applied to this conv's output
    block: int | None = None  # the repeated block it belongs to (None: outside the blocks)


@dataclass(frozen=True)
class Layout:
    """A backbone's conv sites in forward order, and where a multi-scale region may start and end."""

    sites: tuple[ConvSite, ...]
    entries: tuple[str, ...]
    exits: tuple[str, ...]

    def index(self, name: str) -> int:
        return next(i for i, s in enumerate(self.sites) if s.name == name)

    def site(self, name: str) -> ConvSite:
        return self.sites[self.index(name)]


def upsampler_sites(upscale: int, width: int) -> list[ConvSite]:
    """Sub-pixel upsampling: one conv + shuffle(3) for x3, one or two conv + shuffle(2) for x2/x4."""
    if upscale == 3:
        return [ConvSite("up.0", width, 9 * width, 3, 1, 3)]
    steps = {2: 1, 4: 2}[upscale]
    return [ConvSite(f"up.{i}", width, 4 * width, 3, 2**i, 2) for i in range(steps)]


def srresnet_layout(upscale: int, width: int, blocks: int) -> Layout:
    """SRResNet without BN: conv_first, residual blocks, two trunk convs, upsampler, conv_hr, conv_last."""
    sites = [ConvSite("conv_first", IMAGE_CHANNELS, width, 3)]
    for b in range(blocks):
        sites += [
            ConvSite(f"body.{b}.conv1", width, width, 3, block=b),
            ConvSite(f"body.{b}.conv2", width, width, 3, block=b),
        ]
    sites += [ConvSite("conv_body1", width, width, 3), ConvSite("conv_body2", width, width, 3)]
    up = upsampler_sites(upscale, width)
    tail = [ConvSite("conv_hr", width, width, 3, upscale), ConvSite("conv_last", width, IMAGE_CHANNELS, 3, upscale)]
    return Layout(tuple(sites + up + tail), ("conv_first",), tuple(s.name for s in up + tail))


CARN_UNITS_PER_BLOCK = 3


def carn_layout(upscale: int, width: int, blocks: int) -> Layout:
    """CARN (Ahn et al. 2018): cascading blocks of residual units with 1x1 fusions, plus the paper's conv_hr."""
    sites = [ConvSite("entry", IMAGE_CHANNELS, width, 3)]
    for b in range(blocks):
        for u in range(CARN_UNITS_PER_BLOCK):
            sites += [
                ConvSite(f"b{b}.r{u}.conv1", width, width, 3, block=b),
                ConvSite(f"b{b}.r{u}.conv2", width, width, 3, block=b),
            ]
            sites.append(ConvSite(f"b{b}.c{u}", (u + 2) * width, width, 1, block=b))
        sites.append(ConvSite(f"c{b}", (b + 2) * width, width, 1, block=b))
    up = upsampler_sites(upscale, width)
    tail = [ConvSite("conv_hr", width, width, 3, upscale), ConvSite("exit", width, IMAGE_CHANNELS, 3, upscale)]
    return Layout(tuple(sites + up + tail), ("entry",), tuple(s.name for s in up + tail))


LAYOUTS: dict[str, Callable[[int, int, int], Layout]] = {"srresnet": srresnet_layout, "carn": carn_layout}
DEFAULT_BLOCKS = {"srresnet": 16, "carn": 3}
DEFAULT_WIDTH = 64
MAX_WIDTH = 4096  # 64 times the paper's width; a width of 10^6 would ask for terabytes
MAX_BLOCKS = 512


def layout_of(backbone: str, upscale: int, width: int, blocks: int) -> Layout:
    """The layout of a backbone; unknown names and values raise a SpecError."""
    require(backbone in LAYOUTS, "backbone", repr(backbone), LAYOUTS)
    require(upscale in UPSCALES, "upscale", repr(upscale), UPSCALES)
    require(type(width) is int and 1 <= width <= MAX_WIDTH, "width", f"{width!r} must be an integer in 1..{MAX_WIDTH}")
    require(
        type(blocks) is int and 1 <= blocks <= MAX_BLOCKS, "blocks", f"{blocks!r} must be an integer in 1..{MAX_BLOCKS}"
    )
    return _cached_layout(backbone, upscale, width, blocks)


_LAYOUT_CACHE: dict[tuple[str, int, int, int], Layout] = {}


def _cached_layout(backbone: str, upscale: int, width: int, blocks: int) -> Layout:
    key = (backbone, upscale, width, blocks)
    if key not in _LAYOUT_CACHE:
        _LAYOUT_CACHE[key] = LAYOUTS[backbone](upscale, width, blocks)
    return _LAYOUT_CACHE[key]
