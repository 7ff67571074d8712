"""What a study may vary: the choices for a unit and an architecture, and the pure map to specs.

A *choice* is a flat dict of plain values (what a sampler suggests); ``build``
turns it into a spec.  Dimensions with one allowed value are fixed, not searched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from space.arch import ArchSpec, entry_for, exit_for
from space.layout import DEFAULT_BLOCKS, DEFAULT_WIDTH, layout_of
from space.presets import CONNECTIVITY, cross_edges, intra_edges
from space.unit import DOWN_OPS, KERNELS, UP_OPS, Edge, UnitSpec

PATHS = ("none", "down", "up", "both")  # which cross-scale entries exist: high->low, low->high, or both


@dataclass(frozen=True)
class UnitChoices:
    """The allowed values of each unit dimension (the Eqn-1 matrix, as a few categorical knobs)."""

    scales: tuple[int, ...] = (2,)
    paths: tuple[str, ...] = PATHS
    cross_kernel: tuple[int | None, ...] = (1, 3)  # None: the kernel of the layer replaced
    shared: tuple[bool, ...] = (False, True)  # one weight for every intra-scale entry (needs an equal split)
    low_share: tuple[float, ...] = (0.5,)  # 2 scales: share of channels at half resolution (OctConv's alpha)
    connectivity: tuple[str, ...] = ("all",)
    down: tuple[str, ...] = ("avgpool",)
    up: tuple[str, ...] = ("nearest",)

    def __post_init__(self) -> None:
        _check("scales", self.scales, (1, 2, 3, 4))
        _check("paths", self.paths, PATHS)
        _check("cross_kernel", self.cross_kernel, (*KERNELS, None))
        _check("shared", self.shared, (False, True))
        _check("connectivity", self.connectivity, CONNECTIVITY)
        _check("down", self.down, DOWN_OPS)
        _check("up", self.up, UP_OPS)
        for share in self.low_share:
            if not 0 < share < 1:
                raise ValueError(f"low_share: {share} must lie strictly between 0 and 1")

    def dimensions(self, choice: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
        """The dimensions that matter given the choices so far (define-by-run), each with its options."""
        scales = choice.get("scales", self.scales[0])
        dims: dict[str, tuple[Any, ...]] = {"scales": self.scales}
        if scales == 1:
            return dims
        dims["paths"] = self.paths
        if scales == 2:
            dims["low_share"] = self.low_share
        else:
            dims["connectivity"] = self.connectivity
        if scales > 2 or choice.get("low_share", self.low_share[0]) == 0.5:
            dims["shared"] = self.shared
        paths = choice.get("paths", self.paths[0])
        if paths != "none":
            dims["cross_kernel"] = self.cross_kernel
        if paths in ("down", "both"):
            dims["down"] = self.down
        if paths in ("up", "both"):
            dims["up"] = self.up
        return dims

    def build(self, choice: Mapping[str, Any]) -> UnitSpec:
        """The unit a complete choice describes."""
        scales = choice.get("scales", self.scales[0])
        if scales == 1:
            return UnitSpec.square((1,), [Edge(0, 0)])
        split = _split(scales, choice.get("low_share", 0.5))
        shared = choice.get("shared", False) and len(set(split)) == 1
        edges = intra_edges(scales, tie="W_IS" if shared else None)
        paths = choice.get("paths", "none")
        kernel = choice.get("cross_kernel", 1)
        for e in cross_edges(scales, choice.get("connectivity", "all")):
            down = e.dst > e.src
            if paths == "both" or paths == ("down" if down else "up"):
                op = choice.get("down", "avgpool") if down else choice.get("up", "nearest")
                edges.append(Edge(e.src, e.dst, kernel=kernel, resample=op))
        return UnitSpec.square(split, edges)

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every distinct complete choice (for small spaces: enumeration and named-point lookup)."""
        yield from _expand(self, {})


def _expand(choices: UnitChoices, partial: dict[str, Any]) -> Iterator[dict[str, Any]]:
    dims = choices.dimensions(partial)
    todo = [k for k in dims if k not in partial]
    if not todo:
        yield dict(partial)
        return
    key = todo[0]
    for value in dims[key]:
        yield from _expand(choices, {**partial, key: value})


def _split(scales: int, low_share: float) -> tuple[int, ...]:
    if scales != 2:
        return (1,) * scales
    low = Fraction(low_share).limit_denominator(64)
    return (low.denominator - low.numerator, low.numerator)


def _check(name: str, values: tuple[Any, ...], allowed: tuple[Any, ...]) -> None:
    if not values or any(v not in allowed for v in values):
        raise ValueError(f"{name}: {values} (allowed: {', '.join(map(str, allowed))})")


@dataclass(frozen=True)
class SpaceDef:
    """An architecture search space: a backbone and the unit choices, for all layers or layer by layer."""

    backbone: str = "srresnet"
    unit: UnitChoices = field(default_factory=UnitChoices)
    upscale: int = 4
    width: int = DEFAULT_WIDTH
    blocks: int = 0  # 0: the backbone's default
    layerwise: bool = False  # each converted layer chooses its own matrix (scales and split stay shared)
    width_per_branch: int | None = None  # Table 3: the multi-scale region holds this many channels per branch

    @property
    def depth(self) -> int:
        return self.blocks or DEFAULT_BLOCKS[self.backbone]

    def converted_layers(self) -> int:
        """How many layers lie strictly between FirstConv and LastConv (conv_hr)."""
        layout = layout_of(self.backbone, self.upscale, self.width, self.depth)
        return layout.index("conv_hr") - layout.index(layout.entries[0]) - 1

    def build(self, shared: Mapping[str, Any], per_layer: Sequence[Mapping[str, Any]] | None = None) -> ArchSpec:
        """The spec for a choice: ``shared`` for every layer, ``per_layer`` overrides when layer-wise."""
        units: tuple[UnitSpec, ...] = (self.unit.build(shared),)
        if per_layer is not None:
            units = tuple(self.unit.build({**shared, **layer}) for layer in per_layer)
        first = units[0]  # FirstConv and LastConv resample the way the first converted layer does
        region = self.width if self.width_per_branch is None else self.width_per_branch * first.scales
        return ArchSpec(
            self.backbone,
            units,
            entry_for(first),
            exit_for(first),
            self.upscale,
            self.width,
            self.depth,
            region_width=region,
        )

    def uniform_points(self) -> Iterator[tuple[dict[str, Any], ArchSpec]]:
        """Every choice that puts one unit on all layers, with its spec."""
        for choice in self.unit.grid():
            yield choice, self.build(choice)

    def with_unit(self, **changes: Any) -> SpaceDef:
        return replace(self, unit=replace(self.unit, **changes))


def layer_keys(unit: UnitChoices, choice: Mapping[str, Any]) -> list[str]:
    """Dimensions a layer-wise space chooses per layer (scales and split are shared by all layers)."""
    return [k for k in unit.dimensions(choice) if k not in ("scales", "low_share")]
