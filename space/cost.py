"""Analytic cost from the spec alone: conv multiply-adds (the paper's FLOPs) and parameters.

No model is built, so a search can reject a spec before it spends anything on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from space.arch import ArchSpec
from space.errors import require
from space.layout import ConvSite
from space.unit import Edge, UnitSpec

DEFAULT_LR_SIZE = 128


@dataclass(frozen=True)
class Cost:
    """Conv multiply-adds for one LR input, and parameters with and without biases."""

    macs: int
    params: int
    params_no_bias: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.params + other.params, self.params_no_bias + other.params_no_bias)


ZERO = Cost(0, 0, 0)


MAX_LR_SIDE = 4096  # counts are exact at any size; measuring a larger input would exhaust memory


def coarsest_step(spec: ArchSpec) -> int:
    """The downsampling factor of the spec's coarsest branch: an LR side must be a multiple of it."""
    return 2 ** max(max(u.inputs.levels) for _, u in spec.site_units)


def check_lr_size(spec: ArchSpec, lr_size: int | tuple[int, int]) -> tuple[int, int]:
    """An LR size the spec's coarsest branch divides exactly."""
    h, w = (lr_size, lr_size) if isinstance(lr_size, int) else lr_size
    step = coarsest_step(spec)
    require(
        h >= step and w >= step and h % step == 0 and w % step == 0,
        "lr_size",
        f"{h}x{w} is not a multiple of {step}, which {spec.scales} scales need",
    )
    require(max(h, w) <= MAX_LR_SIDE, "lr_size", f"{h}x{w}: a side is larger than {MAX_LR_SIDE}")
    return h, w


def analytic_cost(spec: ArchSpec, lr_size: int | tuple[int, int] = DEFAULT_LR_SIZE) -> Cost:
    """Conv MACs and params of the network a spec builds, counted the way fvcore counts convs."""
    h, w = check_lr_size(spec, lr_size)
    total = ZERO
    for site, unit in spec.site_units:
        total += unit_cost(unit, site, h * site.factor, w * site.factor)
    return total


def unit_cost(unit: UnitSpec, site: ConvSite, h: int, w: int) -> Cost:
    """Cost of one unit at one site, where the full-resolution branch is h x w."""
    return _unit_cost(unit, site.c_in, site.c_out, site.kernel, h, w)


@lru_cache(maxsize=65536)
def _unit_cost(unit: UnitSpec, c_in: int, c_out: int, layer_kernel: int, h: int, w: int) -> Cost:
    macs = params = params_no_bias = 0
    seen_ties: set[str] = set()
    for e in unit.edges:
        if e.op == "identity":
            continue
        k = e.kernel_in(layer_kernel)
        cin = unit.inputs.channels(c_in, e.src)
        cout = unit.outputs.channels(c_out, e.dst) * conv_out_multiplier(unit, e)
        level = conv_level(unit, e)
        macs += k * k * cin * cout * (h >> level) * (w >> level)
        if e.tie is None or e.tie not in seen_ties:
            params_no_bias += k * k * cin * cout
            params += k * k * cin * cout + cout
        if e.tie is not None:
            seen_ties.add(e.tie)
    return Cost(macs, params, params_no_bias)


def conv_level(unit: UnitSpec, e: Edge) -> int:
    """The resolution level an entry's conv runs at: the destination's if resampling comes first."""
    src, dst = unit.inputs.levels[e.src], unit.outputs.levels[e.dst]
    if e.resample == "strided":
        return dst
    return dst if e.resample_first else src


def conv_out_multiplier(unit: UnitSpec, e: Edge) -> int:
    """A pixel-shuffle up entry's conv makes 4**gap channels per output channel."""
    return 4 ** unit.level_gap(e) if e.resample == "pixelshuffle" else 1


FLOAT_BYTES = 4


def feature_elements(spec: ArchSpec, lr_size: int | tuple[int, int] = DEFAULT_LR_SIZE) -> tuple[int, int]:
    """(sum, largest) over the network's conv sites of the elements their conv entries write for one image.

    The sum is what autograd keeps for a training step; the largest site bounds what inference holds at once.
    """
    h, w = check_lr_size(spec, lr_size)
    per_site = [_unit_outputs(unit, site.c_out, h * site.factor, w * site.factor) for site, unit in spec.site_units]
    return sum(per_site), max(per_site)


def activation_bytes(spec: ArchSpec, lr_size: int | tuple[int, int], batch: int = 1, training: bool = False) -> int:
    """An estimate (within about 2x) of the feature-map memory of inference or of a training step.

    Training keeps every conv output and the activation after it (2x the sum over sites); inference holds
    a layer's input, output and a skip at once (3x the largest site).  Weights and the optimiser's state
    are not counted: they are small beside the feature maps at any size where this matters.
    """
    total, largest = feature_elements(spec, lr_size)
    return batch * FLOAT_BYTES * (2 * total if training else 3 * largest)


@lru_cache(maxsize=65536)
def _unit_outputs(unit: UnitSpec, c_out: int, h: int, w: int) -> int:
    out = 0
    for e in unit.edges:
        if e.op != "identity":
            level = conv_level(unit, e)
            out += unit.outputs.channels(c_out, e.dst) * conv_out_multiplier(unit, e) * (h >> level) * (w >> level)
    return out
