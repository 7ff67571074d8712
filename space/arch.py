"""An architecture as data: backbone, upscale, width, depth and the unit of every converted layer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from space.errors import SpecError, require
from space.layout import DEFAULT_BLOCKS, DEFAULT_WIDTH, ConvSite, Layout, layout_of
from space.unit import Branches, Edge, UnitSpec

SINGLE = Branches((1,), (0,))
STANDARD_UNIT = UnitSpec(SINGLE, SINGLE, (Edge(0, 0),))
ARCH_KEYS = (
    "backbone",
    "upscale",
    "width",
    "region_width",
    "blocks",
    "first",
    "last",
    "entry",
    "exit",
    "units",
    "unit",
)
DEFAULT_LAST = "conv_hr"


def entry_for(unit: UnitSpec) -> UnitSpec:
    """FirstConv for a unit: the image features go to every branch, resampled the way the unit goes down."""
    op, first = _cross_style(unit, "down")
    edges = [
        Edge(0, j, "conv", _intra_kernel(unit, j), op if lvl else None, first if lvl else None)
        for j, lvl in enumerate(unit.outputs.levels)
    ]
    return UnitSpec(SINGLE, unit.outputs, tuple(edges))


def exit_for(unit: UnitSpec) -> UnitSpec:
    """LastConv for a unit: every branch goes back to one full-resolution output (a path per branch)."""
    op, first = _cross_style(unit, "up")
    edges = [
        Edge(i, 0, "conv", _intra_kernel(unit, i), op if lvl else None, first if lvl else None)
        for i, lvl in enumerate(unit.inputs.levels)
    ]
    return UnitSpec(unit.inputs, SINGLE, tuple(edges))


def _cross_style(unit: UnitSpec, direction: str) -> tuple[str | None, bool | None]:
    for e in unit.edges:
        if unit.direction(e) == direction:
            return e.resample, e.resample_first
    return None, None


def _intra_kernel(unit: UnitSpec, branch: int) -> int | None:
    return next((e.kernel for e in unit.edges if e.src == e.dst == branch and e.op == "conv"), None)


@lru_cache(maxsize=65536)
def relative_kernels(unit: UnitSpec, kernel: int) -> UnitSpec:
    """The same unit with kernels equal to the layer's own written as None, so equal networks compare equal."""
    if all(e.kernel != kernel for e in unit.edges):
        return unit
    edges = tuple(
        Edge(e.src, e.dst, e.op, None if e.kernel == kernel else e.kernel, e.resample, e.resample_first, e.tie)
        for e in unit.edges
    )
    return UnitSpec(unit.inputs, unit.outputs, edges)


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: which backbone, and which unit replaces each conv between FirstConv and LastConv.

    ``units`` holds one unit for every converted layer, or one per layer.
    ``entry``/``exit`` are the FirstConv/LastConv units at sites ``first``/``last``.
    ``region_width`` is the width between them (0 = ``width``): Table 3 keeps 32
    channels per branch while the full-resolution tail stays at ``width``.
    """

    backbone: str
    units: tuple[UnitSpec, ...]
    entry: UnitSpec
    exit: UnitSpec
    upscale: int = 4
    width: int = DEFAULT_WIDTH
    blocks: int = 0  # 0 = the backbone's default depth
    first: str = ""  # "" = the backbone's first conv
    last: str = DEFAULT_LAST
    region_width: int = 0

    def __post_init__(self) -> None:
        if self.blocks == 0 and self.backbone in DEFAULT_BLOCKS:
            object.__setattr__(self, "blocks", DEFAULT_BLOCKS[self.backbone])
        if self.region_width == 0:
            object.__setattr__(self, "region_width", self.width)
        require(
            type(self.region_width) is int and self.region_width >= 1,
            "region_width",
            f"{self.region_width!r} must be a positive integer",
        )
        layout = layout_of(self.backbone, self.upscale, self.width, self.blocks)
        if self.first == "":
            object.__setattr__(self, "first", layout.entries[0])
        require(self.first in layout.entries, "first", repr(self.first), layout.entries)
        require(self.last in layout.exits, "last", repr(self.last), layout.exits)
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "entry", relative_kernels(self.entry, layout.site(self.first).kernel))
        object.__setattr__(self, "exit", relative_kernels(self.exit, layout.site(self.last).kernel))
        self._check_units(layout)
        for site, unit in self.site_units:
            _check_site(site, unit)
        object.__setattr__(self, "units", self._collapsed_units())

    @cached_property
    def layout(self) -> Layout:
        return layout_of(self.backbone, self.upscale, self.width, self.blocks)

    @property
    def inner_sites(self) -> tuple[ConvSite, ...]:
        """The converted layers strictly between FirstConv and LastConv."""
        return self.layout.sites[self.layout.index(self.first) + 1 : self.layout.index(self.last)]

    @property
    def scales(self) -> int:
        return self.units[0].scales

    @cached_property
    def site_units(self) -> tuple[tuple[ConvSite, UnitSpec], ...]:
        """Every conv site with the unit that fills it (standard outside the multi-scale region)."""
        lo, hi = self.layout.index(self.first), self.layout.index(self.last)
        inner = self.units if len(self.units) > 1 else self.units * (hi - lo - 1)
        out = []
        for i, site in enumerate(self.layout.sites):
            if i == lo:
                unit, site = self.entry, self._scaled(site, c_out=True)
            elif i == hi:
                unit, site = self.exit, self._scaled(site, c_in=True)
            elif lo < i < hi:
                unit, site = inner[i - lo - 1], self._scaled(site, c_in=True, c_out=True)
            else:
                unit = STANDARD_UNIT
            out.append((site, relative_kernels(unit, site.kernel)))
        return tuple(out)

    def _scaled(self, site: ConvSite, c_in: bool = False, c_out: bool = False) -> ConvSite:
        """The site with its region-side channels scaled to the region width."""
        if self.region_width == self.width:
            return site
        return replace(
            site,
            c_in=self._in_region(site.c_in) if c_in else site.c_in,
            c_out=self._in_region(site.c_out) if c_out else site.c_out,
        )

    def _in_region(self, channels: int) -> int:
        """A layer's channel count inside the multi-scale region (scaled by region_width / width)."""
        scaled = channels * self.region_width
        require(scaled % self.width == 0, "region_width", f"{self.region_width} does not scale {channels} channels")
        return scaled // self.width

    def _check_units(self, layout: Layout) -> None:
        n_inner = layout.index(self.last) - layout.index(self.first) - 1
        require(
            len(self.units) in (1, n_inner),
            "units",
            f"{len(self.units)} units for {n_inner} converted layers",
            (1, n_inner),
        )
        branches = self.units[0].inputs
        for i, u in enumerate(self.units):
            require(u.inputs == u.outputs, f"units[{i}]", "a converted layer must keep its branches")
            require(u.inputs == branches, f"units[{i}]", "all converted layers must share one split and levels")
        require(self.entry.inputs == SINGLE, "entry", "FirstConv takes a single full-resolution input")
        require(self.entry.outputs == branches, "entry", "FirstConv must produce the units' branches")
        require(self.exit.inputs == branches, "exit", "LastConv must take the units' branches")
        require(self.exit.outputs == SINGLE, "exit", "LastConv produces a single full-resolution output")

    def _collapsed_units(self) -> tuple[UnitSpec, ...]:
        lo = self.layout.index(self.first)
        inner = [u for _, u in self.site_units[lo + 1 : self.layout.index(self.last)]]
        if inner and all(u == inner[0] for u in inner):
            return (inner[0],)
        return self.units

    def resized(
        self, width: int | None = None, blocks: int | None = None, kept: tuple[int, ...] | None = None
    ) -> ArchSpec:
        """The same design at another width and/or depth (a proxy's smaller network, or MS3-Conv+).

        A layer-wise spec at another depth keeps the units of the blocks ``kept`` (by default evenly
        spaced, :func:`kept_blocks`: at 2 of 16 blocks, those of the first and the last block).
        """
        width = width or self.width
        blocks = blocks or self.blocks
        region = self.region_width * width // self.width
        if region * self.width != self.region_width * width:
            raise SpecError("width", f"{width} does not keep region_width / width = {self.region_width}/{self.width}")
        same = blocks == self.blocks or len(self.units) == 1
        units = self.units if same else self._units_at_depth(blocks, kept or kept_blocks(self.blocks, blocks))
        return replace(self, width=width, blocks=blocks, region_width=region, units=units)

    def _units_at_depth(self, blocks: int, kept: tuple[int, ...]) -> tuple[UnitSpec, ...]:
        """Per-layer units for ``blocks`` blocks: block j takes the units of block ``kept[j]``."""
        require(
            len(kept) == blocks and all(0 <= b < self.blocks for b in kept),
            "blocks",
            f"kept blocks {list(kept)} must name {blocks} of the spec's blocks 0..{self.blocks - 1}",
        )
        by_place = dict(zip(_places(self.inner_sites), self.units, strict=True))
        target = layout_of(self.backbone, self.upscale, self.width, blocks)
        inner = target.sites[target.index(self.first) + 1 : target.index(self.last)]
        return tuple(by_place[place] for place in _places(inner, kept))

    @cached_property
    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @cached_property
    def spec_hash(self) -> str:
        """Identity of the network: equal for specs that build the same layers, different otherwise.

        A narrower multi-scale region adds ``region_width`` (before, such specs hashed like their
        full-width twins; every other spec's hash is unchanged, so older studies still read).
        """
        body: dict[str, Any] = {
            "backbone": self.backbone,
            "upscale": self.upscale,
            "width": self.width,
            "blocks": self.blocks,
            "sites": [[s.name, _unit_key(u)] for s, u in self.site_units],
        }
        if self.region_width != self.width:
            body["region_width"] = self.region_width
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone,
            "upscale": self.upscale,
            "width": self.width,
            "region_width": self.region_width,
            "blocks": self.blocks,
            "first": self.first,
            "last": self.last,
            "entry": self.entry.to_dict(),
            "exit": self.exit.to_dict(),
            "units": [u.to_dict() for u in self.units],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> ArchSpec:
        """Parse the JSON form.  ``unit`` may stand for a one-element ``units``; entry/exit default from it."""
        require(isinstance(data, dict), "spec", "must be a JSON object")
        for key in data:
            require(key in ARCH_KEYS, key, "unknown key", ARCH_KEYS)
        require("backbone" in data, "backbone", "missing")
        require(("units" in data) != ("unit" in data), "units", "give exactly one of units or unit")
        raw = data["units"] if "units" in data else [data["unit"]]
        require(isinstance(raw, list) and raw != [], "units", "must be a non-empty list")
        units = tuple(UnitSpec.from_dict(u, f"units[{i}]") for i, u in enumerate(raw))
        entry = UnitSpec.from_dict(data["entry"], "entry") if "entry" in data else entry_for(units[0])
        exit_ = UnitSpec.from_dict(data["exit"], "exit") if "exit" in data else exit_for(units[0])
        for key in ("upscale", "width", "region_width", "blocks"):
            require(type(data.get(key, 0)) is int, key, "must be an integer")
        for key in ("backbone", "first", "last"):
            require(isinstance(data.get(key, ""), str), key, "must be a string")
        return cls(
            backbone=data["backbone"],
            units=units,
            entry=entry,
            exit=exit_,
            upscale=data.get("upscale", 4),
            width=data.get("width", DEFAULT_WIDTH),
            blocks=data.get("blocks", 0),
            first=data.get("first", ""),
            last=data.get("last", DEFAULT_LAST),
            region_width=data.get("region_width", 0),
        )


def kept_blocks(blocks: int, fewer: int) -> tuple[int, ...]:
    """Which of ``blocks`` blocks a network of ``fewer`` blocks keeps: evenly spaced, first and last included.

    The rule a layer-wise spec follows at a proxy's depth (16 -> 2 keeps blocks 0 and 15); with more
    blocks than the spec has, blocks repeat.
    """
    if fewer == 1:
        return (blocks // 2,)
    return tuple(round(j * (blocks - 1) / (fewer - 1)) for j in range(fewer))


def _places(sites: tuple[ConvSite, ...], kept: tuple[int, ...] | None = None) -> list[tuple[Any, ...]]:
    """Where each site sits, independent of depth: its name, or (block, position in the block).

    With ``kept``, a site of block j is placed as the same position in block ``kept[j]``.
    """
    seen: dict[int, int] = {}
    out: list[tuple[Any, ...]] = []
    for site in sites:
        if site.block is None:
            out.append((site.name,))
            continue
        position = seen.get(site.block, 0)
        seen[site.block] = position + 1
        out.append((site.block if kept is None else kept[site.block], position))
    return out


def _unit_key(unit: UnitSpec) -> str:
    return json.dumps(unit.to_dict(), sort_keys=True)


def _check_site(site: ConvSite, unit: UnitSpec) -> None:
    """Every branch gets a whole number of channels, and identity entries keep their width."""
    problem = _site_problem(site.c_in, site.c_out, unit)
    if problem is not None:
        field, message, allowed = problem
        raise SpecError(field.format(site=site.name), message, allowed)


@lru_cache(maxsize=65536)
def _site_problem(c_in: int, c_out: int, unit: UnitSpec) -> tuple[str, str, tuple[object, ...] | None] | None:
    """What (if anything) stops ``unit`` from filling a c_in -> c_out layer; cached by shape, not by site."""
    try:
        for i in range(unit.inputs.count):
            unit.inputs.channels(c_in, i, f"split (site {{site}}, {c_in} input channels)")
        for j in range(unit.outputs.count):
            unit.outputs.channels(c_out, j, f"split (site {{site}}, {c_out} output channels)")
    except SpecError as err:
        return err.field, err.message, err.allowed
    for e in unit.edges:
        if e.op == "identity":
            cin, cout = unit.inputs.channels(c_in, e.src), unit.outputs.channels(c_out, e.dst)
            if cin != cout:
                field = f"site {{site}}: edges[{e.src}->{e.dst}].op"
                return field, f"identity needs equal channels, got {cin}->{cout}", ("conv",)
    return None


MAX_SPEC_CHARS = 10_000_000  # a per-layer spec of 512 blocks is well under 1 MB


def load_spec(source: str | Path) -> ArchSpec:
    """An ArchSpec from JSON text or a path to a JSON file; problems raise a SpecError."""
    text = str(source)
    if not text.lstrip().startswith("{"):
        path = Path(text)
        require(path.is_file(), "spec", f"no such file: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise SpecError("spec", f"{path} is not UTF-8 text (byte {err.start})") from None
    require(len(text) <= MAX_SPEC_CHARS, "spec", f"{len(text)} characters (at most {MAX_SPEC_CHARS})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError("spec", f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    except RecursionError:
        raise SpecError("spec", "nested too deeply to be a spec") from None
    except ValueError as err:  # e.g. an integer of thousands of digits
        raise SpecError("spec", f"not a usable JSON value ({str(err).split(':')[0]})") from None
    return ArchSpec.from_dict(data)
