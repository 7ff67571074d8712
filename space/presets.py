"""Named points of the space: the paper's variants and the designs it unifies, each only a spec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

from space.arch import ArchSpec, entry_for, exit_for
from space.errors import SpecError
from space.layout import DEFAULT_BLOCKS, DEFAULT_WIDTH, layout_of
from space.unit import Edge, UnitSpec

Connectivity = str  # "all" | "neighbours"
CONNECTIVITY = ("all", "neighbours")


def cross_edges(scales: int, connectivity: Connectivity = "all", **edge: object) -> list[Edge]:
    """Cross-scale entries between all pairs of branches, or between neighbours only (MG-Conv)."""
    if connectivity not in CONNECTIVITY:
        raise SpecError("connectivity", repr(connectivity), CONNECTIVITY)
    pairs = [(s, d) for s, d in product(range(scales), repeat=2) if s != d]
    if connectivity == "neighbours":
        pairs = [(s, d) for s, d in pairs if abs(s - d) == 1]
    return [Edge(s, d, **edge) for s, d in pairs]  # type: ignore[arg-type]


def intra_edges(scales: int, tie: str | None = None, op: str = "conv") -> list[Edge]:
    """The diagonal of the matrix: each branch's own transform, optionally one shared weight."""
    return [Edge(i, i, op, tie=tie) for i in range(scales)]  # type: ignore[arg-type]


def ms3_unit(scales: int = 2, cross_kernel: int = 1, connectivity: Connectivity = "all") -> UnitSpec:
    """MS3-Conv (Eqn 5): shared intra-scale weight, 1x1 avg-pool-down / nearest-up cross paths."""
    edges = intra_edges(scales, tie="W_IS") + cross_edges(scales, connectivity, kernel=cross_kernel)
    return UnitSpec.square((1,) * scales, edges)


def ms_unit(has_hl: bool = False, has_lh: bool = False) -> UnitSpec:
    """MS-Conv, and MS2-Conv with either or both cross paths at the layer's kernel (Table 2)."""
    edges = intra_edges(2)
    if has_hl:
        edges.append(Edge(0, 1))
    if has_lh:
        edges.append(Edge(1, 0))
    return UnitSpec.square((1, 1), edges)


def octconv_unit(alpha: float = 0.25) -> UnitSpec:
    """Octave convolution (Eqn 3): a share alpha of the channels at half resolution, all four paths."""
    low = Fraction(alpha).limit_denominator(64)
    if not 0 < low < 1:
        raise SpecError("alpha", f"{alpha} must lie strictly between 0 and 1")
    split = (low.denominator - low.numerator, low.numerator)
    return UnitSpec.square(split, intra_edges(2) + cross_edges(2))


def mgconv_unit() -> UnitSpec:
    """Multi-grid convolution (Eqn 4): 3 grids, max-pool down, upsample then conv, neighbours only."""
    cross = cross_edges(3, "neighbours")
    edges = [Edge(e.src, e.dst, resample="maxpool" if e.dst > e.src else "nearest", resample_first=True) for e in cross]
    return UnitSpec.square((2, 1, 1), intra_edges(3) + edges)


def unet_unit(identity: bool = True) -> UnitSpec:
    """U-Net (Eqn 2): identity at full resolution, a conv at half resolution, no communication."""
    high = Edge(0, 0, "identity") if identity else Edge(0, 0, kernel=1)
    return UnitSpec.square((1, 1), [high, Edge(1, 1)])


@dataclass(frozen=True)
class Preset:
    """A named point: what it is, and how to lay it on a backbone."""

    name: str
    description: str
    build: Callable[[str, int, int, int], ArchSpec]  # (backbone, upscale, blocks, width)


PRESETS: dict[str, Preset] = {}


def register(name: str, description: str) -> Callable[[Callable[..., ArchSpec]], Callable[..., ArchSpec]]:
    """Add a preset builder; a name can be registered once."""

    def wrap(build: Callable[..., ArchSpec]) -> Callable[..., ArchSpec]:
        if name in PRESETS:
            raise ValueError(f"preset {name!r} registered twice")
        PRESETS[name] = Preset(name, description, build)
        return build

    return wrap


def uniform(unit: UnitSpec, region_width: int | None = None) -> Callable[[str, int, int, int], ArchSpec]:
    """A builder that puts one unit on every converted layer, with matching FirstConv and LastConv."""

    def build(backbone: str, upscale: int, blocks: int, width: int) -> ArchSpec:
        return ArchSpec(
            backbone,
            (unit,),
            entry_for(unit),
            exit_for(unit),
            upscale,
            width,
            blocks,
            region_width=region_width or width,
        )

    return build


def _add(name: str, description: str, unit: UnitSpec, width_per_branch: int | None = None) -> None:
    region = None if width_per_branch is None else width_per_branch * unit.scales
    register(name, description)(uniform(unit, region))


_add("standard", "the single-scale baseline conv", UnitSpec.square((1,), [Edge(0, 0)]))
_add("ms", "MS-Conv: two scales, no cross-scale paths (Table 2)", ms_unit())
_add("ms2-no-lh", "MS2-Conv without low->high: + W_HL o avgpool, 3x3 (Table 2)", ms_unit(has_hl=True))
_add("ms2-no-hl", "MS2-Conv without high->low: + up o W_LH, 3x3 (Table 2)", ms_unit(has_lh=True))
_add("ms2", "MS2-Conv: both 3x3 cross-scale paths (Table 2)", ms_unit(has_hl=True, has_lh=True))
_add("ms3", "MS3-Conv (Eqn 5): shared 3x3 W_IS, 1x1 cross paths (Tables 2, 4)", ms3_unit())
_add("ms3-l", "MS3-Conv-L: MS3 with 3x3 cross paths (Fig. 6)", ms3_unit(cross_kernel=3))
_add("ms3-3branch", "MS3 with 3 branches of 32 channels, 1x1 paths between all pairs (Table 3)", ms3_unit(3), 32)
_add("ms3-4branch", "MS3 with 4 branches of 32 channels, 1x1 paths between all pairs (Table 3)", ms3_unit(4), 32)
_add("octconv", "Octave conv (Eqn 3), alpha = 0.25 of channels at half resolution", octconv_unit(0.25))
_add("mgconv", "Multi-grid conv (Eqn 4): 3 grids 2:1:1, max-pool down, neighbours only", mgconv_unit())


@register("unet", "U-Net (Eqn 2): identity high branch, conv low branch; 1x1 where widths change")
def _unet(backbone: str, upscale: int, blocks: int, width: int) -> ArchSpec:
    """Identity needs equal widths, so layers that change width (upsampler, CARN fusion) project with 1x1."""
    unit = unet_unit()
    probe = ArchSpec(backbone, (unet_unit(False),), entry_for(unit), exit_for(unit), upscale, width, blocks)
    units = tuple(unet_unit(site.c_in == site.c_out) for site in probe.inner_sites)
    return ArchSpec(backbone, units, entry_for(unit), exit_for(unit), upscale, width, blocks)


def preset(
    name: str, backbone: str = "srresnet", upscale: int = 4, blocks: int | None = None, width: int | None = None
) -> ArchSpec:
    """The named point laid on a backbone; ``blocks`` deepens it (the paper's MS3-Conv+)."""
    if name not in PRESETS:
        raise SpecError("preset", repr(name), PRESETS)
    layout_of(backbone, upscale, width or DEFAULT_WIDTH, blocks or 1)  # validates names first
    return PRESETS[name].build(backbone, upscale, blocks or DEFAULT_BLOCKS[backbone], width or DEFAULT_WIDTH)
