"""A conv unit as data: the Eqn-1 transform matrix between scale branches.

A unit maps input branches to output branches.  Branch ``i`` holds a share
(``split``) of the layer's channels at resolution ``2**-level``.  Each present
matrix entry is an :class:`Edge` ``src -> dst``; absent entries are simply not
listed.  Everything is normalised on construction, so two units that describe
the same computation compare (and serialise) equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, cast

from space.errors import SpecError, require

MAX_SCALES = 4
KERNELS = (1, 3, 5)
OPS = ("conv", "identity")
DOWN_OPS = ("avgpool", "maxpool", "strided")
UP_OPS = ("nearest", "bilinear", "pixelshuffle")
RESAMPLE_OPS = ("none", *DOWN_OPS, *UP_OPS)
# Ops that are part of the conv itself: the conv decides where resampling happens.
FUSED_RESAMPLE = ("strided", "pixelshuffle")
# The cheap, paper-style defaults (OctConv / MS3): pool then conv, conv then upsample.
DEFAULT_DOWN = ("avgpool", True)
DEFAULT_UP = ("nearest", False)

Op = Literal["conv", "identity"]
Direction = Literal["same", "down", "up"]


@dataclass(frozen=True)
class Branches:
    """Channel parts and resolution levels of the branches on one side of a unit."""

    split: tuple[int, ...]
    levels: tuple[int, ...]

    def __post_init__(self) -> None:
        split, levels = tuple(self.split), tuple(self.levels)
        require(1 <= len(split) <= MAX_SCALES, "split", f"{len(split)} branches", range(1, MAX_SCALES + 1))
        require(len(levels) == len(split), "levels", f"{len(levels)} levels for {len(split)} branches")
        require(all(isinstance(p, int) and p > 0 for p in split), "split", f"{list(split)} must be positive integers")
        require(levels[0] == 0, "levels", f"{list(levels)}: the first branch must be at full resolution (0)")
        require(
            all(isinstance(v, int) and 0 <= v < MAX_SCALES for v in levels),
            "levels",
            f"{list(levels)} out of range",
            range(MAX_SCALES),
        )
        require(list(levels) == sorted(levels), "levels", f"{list(levels)} must not decrease")
        g = math.gcd(*split)
        object.__setattr__(self, "split", tuple(p // g for p in split))
        object.__setattr__(self, "levels", levels)

    @classmethod
    def of(cls, split: tuple[int, ...], levels: tuple[int, ...] | None = None) -> Branches:
        """Branches with levels 0, 1, 2, ... unless given."""
        return cls(tuple(split), tuple(levels) if levels is not None else tuple(range(len(split))))

    @property
    def count(self) -> int:
        return len(self.split)

    def fraction(self, i: int) -> Fraction:
        """Share of the layer's channels that branch ``i`` holds."""
        return Fraction(self.split[i], sum(self.split))

    def channels(self, total: int, i: int, field_name: str = "split") -> int:
        """Channels of branch ``i`` out of ``total``; the split must divide exactly."""
        share = total * self.fraction(i)
        if share.denominator != 1:
            raise SpecError(field_name, f"{list(self.split)} does not divide {total} channels")
        return int(share)

    def to_dict(self) -> dict[str, Any]:
        return {"split": list(self.split), "levels": list(self.levels)}


@dataclass(frozen=True)
class Edge:
    """One present entry of the transform matrix: ``dst`` receives ``f(src)``.

    ``kernel=None`` means "the kernel of the layer this unit replaces".
    ``resample_first`` says whether the resampling comes before the conv (the
    conv then runs at the destination's resolution) or after it.
    ``tie`` names a group of entries that use one weight tensor.
    """

    src: int
    dst: int
    op: Op = "conv"
    kernel: int | None = None
    resample: str | None = None
    resample_first: bool | None = None
    tie: str | None = None

    def kernel_in(self, layer_kernel: int) -> int:
        """The kernel this entry runs with in a layer whose own kernel is ``layer_kernel``."""
        return self.kernel if self.kernel is not None else layer_kernel

    @property
    def resampling(self) -> str:
        """The resampling op ("none" within a scale); set for every edge a UnitSpec holds."""
        return self.resample or "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dst": self.dst,
            "op": self.op,
            "kernel": self.kernel,
            "resample": self.resample,
            "resample_first": self.resample_first,
            "tie": self.tie,
        }


EDGE_KEYS = tuple(Edge.__dataclass_fields__)


@dataclass(frozen=True)
class UnitSpec:
    """A multi-scale conv unit: input branches, output branches and the edges between them."""

    inputs: Branches
    outputs: Branches
    edges: tuple[Edge, ...] = field(default=())

    def __post_init__(self) -> None:
        edges = tuple(sorted((self._normalise(e) for e in self.edges), key=lambda e: (e.dst, e.src)))
        pairs = [(e.src, e.dst) for e in edges]
        require(len(set(pairs)) == len(pairs), "edges", f"an entry is listed twice: {pairs}")
        for dst in range(self.outputs.count):
            require(dst in {e.dst for e in edges}, "edges", f"output branch {dst} receives no entry")
        object.__setattr__(self, "edges", _canonical_ties(edges))
        self._check_ties()

    @classmethod
    def square(cls, split: tuple[int, ...], edges: list[Edge], levels: tuple[int, ...] | None = None) -> UnitSpec:
        """A unit whose outputs have the same branches as its inputs (the usual case)."""
        branches = Branches.of(split, levels)
        return cls(branches, branches, tuple(edges))

    @property
    def scales(self) -> int:
        """Number of branches on the multi-scale side."""
        return max(self.inputs.count, self.outputs.count)

    def direction(self, edge: Edge) -> Direction:
        """Whether an entry stays at its scale, goes to a coarser one, or to a finer one."""
        a, b = self.inputs.levels[edge.src], self.outputs.levels[edge.dst]
        return "same" if a == b else ("down" if b > a else "up")

    def level_gap(self, edge: Edge) -> int:
        """How many factors of two the entry resamples by."""
        return abs(self.outputs.levels[edge.dst] - self.inputs.levels[edge.src])

    def _normalise(self, e: Edge) -> Edge:
        """The edge with direction-specific defaults filled in; messages are built only on failure."""
        if not self._fields_ok(e):
            self._explain(e)
        resample, first = _resample_for(self.direction(e), e.resample, e.resample_first, e)
        if e.op == "identity":
            return Edge(e.src, e.dst, "identity", None, resample, False, None)
        return Edge(e.src, e.dst, "conv", e.kernel, resample, first, e.tie)

    def _fields_ok(self, e: Edge) -> bool:
        return (
            type(e.src) is int
            and 0 <= e.src < self.inputs.count
            and type(e.dst) is int
            and 0 <= e.dst < self.outputs.count
            and e.op in OPS
            and (e.kernel is None or (type(e.kernel) is int and e.kernel in KERNELS))
            and (e.tie is None or (isinstance(e.tie, str) and e.tie != "" and e.op == "conv"))
            and not (e.op == "identity" and e.resample in FUSED_RESAMPLE)
        )

    def _explain(self, e: Edge) -> None:
        """Raise the SpecError that says which field of an edge is wrong."""
        where = _where(e)
        require(
            type(e.src) is int and 0 <= e.src < self.inputs.count,
            f"{where}.src",
            "no such input branch",
            range(self.inputs.count),
        )
        require(
            type(e.dst) is int and 0 <= e.dst < self.outputs.count,
            f"{where}.dst",
            "no such output branch",
            range(self.outputs.count),
        )
        require(e.op in OPS, f"{where}.op", repr(e.op), OPS)
        if e.op == "identity":
            require(
                e.resample not in FUSED_RESAMPLE,
                f"{where}.resample",
                f"{e.resample} needs a conv",
                ("none", "avgpool", "maxpool", "nearest", "bilinear"),
            )
            require(e.tie is None, f"{where}.tie", "an identity entry holds no weight to share")
        require(
            e.kernel is None or (type(e.kernel) is int and e.kernel in KERNELS),
            f"{where}.kernel",
            repr(e.kernel),
            (*KERNELS, "null"),
        )
        raise SpecError(f"{where}.tie", "must be a name or null")

    def _check_ties(self) -> None:
        groups: dict[str, list[Edge]] = {}
        for e in self.edges:
            if e.tie is not None:
                groups.setdefault(e.tie, []).append(e)
        for members in groups.values():
            shapes = {self.weight_shape(e) for e in members}
            require(
                len(shapes) == 1,
                "edges.tie",
                "shared weights across entries of different shapes: " + ", ".join(f"{e.src}->{e.dst}" for e in members),
            )

    def weight_shape(self, e: Edge) -> tuple[Fraction, Fraction, int | None]:
        """Scale-free weight shape of a conv entry: (in share, out share, kernel)."""
        out = self.outputs.fraction(e.dst)
        if e.resample == "pixelshuffle":
            out *= 4 ** self.level_gap(e)
        return (self.inputs.fraction(e.src), out, e.kernel)

    def to_dict(self) -> dict[str, Any]:
        edges = [e.to_dict() for e in self.edges]
        if self.inputs == self.outputs:
            return {**self.inputs.to_dict(), "edges": edges}
        return {"inputs": self.inputs.to_dict(), "outputs": self.outputs.to_dict(), "edges": edges}

    @classmethod
    def from_dict(cls, data: Any, where: str = "unit") -> UnitSpec:
        """Parse the JSON form; unknown or missing keys raise a SpecError naming them."""
        require(isinstance(data, dict), where, "must be an object")
        if "inputs" in data or "outputs" in data:
            _check_keys(data, ("inputs", "outputs", "edges"), where)
            inputs = _branches_from(data.get("inputs"), f"{where}.inputs")
            outputs = _branches_from(data.get("outputs"), f"{where}.outputs")
        else:
            _check_keys(data, ("split", "levels", "edges"), where)
            inputs = outputs = _branches_from(data, where)
        raw_edges = data.get("edges")
        require(isinstance(raw_edges, list) and raw_edges != [], f"{where}.edges", "must be a non-empty list")
        edges = tuple(_edge_from(e, f"{where}.edges[{i}]") for i, e in enumerate(raw_edges))
        try:
            return cls(inputs, outputs, edges)
        except SpecError as err:
            raise err.within(where) from None


def _where(e: Edge) -> str:
    return f"edges[{e.src}->{e.dst}]"


def _resample_for(direction: Direction, resample: str | None, first: bool | None, e: Edge) -> tuple[str, bool]:
    if direction == "same":
        if resample not in (None, "none"):
            raise SpecError(f"{_where(e)}.resample", f"{resample} on an entry within one scale", ("none",))
        return "none", False
    allowed = DOWN_OPS if direction == "down" else UP_OPS
    default_op, default_first = DEFAULT_DOWN if direction == "down" else DEFAULT_UP
    op = default_op if resample is None else resample
    if op not in allowed:
        kind = "a down" if direction == "down" else "an up"
        raise SpecError(f"{_where(e)}.resample", f"{op!r} for {kind} entry", allowed)
    if op in FUSED_RESAMPLE:
        return op, False
    return op, default_first if first is None else bool(first)


def _canonical_ties(edges: tuple[Edge, ...]) -> tuple[Edge, ...]:
    """Rename tie groups by first appearance and drop groups of one."""
    counts: dict[str, int] = {}
    for e in edges:
        if e.tie is not None:
            counts[e.tie] = counts.get(e.tie, 0) + 1
    names: dict[str, str] = {}
    out = []
    for e in edges:
        tie = e.tie if e.tie is not None and counts[e.tie] > 1 else None
        if tie is not None:
            tie = names.setdefault(tie, f"w{len(names)}")
        out.append(Edge(e.src, e.dst, e.op, e.kernel, e.resample, e.resample_first, tie))
    return tuple(out)


def _check_keys(data: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        require(key in allowed, f"{where}.{key}", "unknown key", allowed)


def _branches_from(data: Any, where: str) -> Branches:
    require(isinstance(data, dict), where, "must be an object with split and levels")
    split = data.get("split")
    require(isinstance(split, list) and split != [], f"{where}.split", "must be a non-empty list of parts")
    levels = data.get("levels")
    require(levels is None or isinstance(levels, list), f"{where}.levels", "must be a list")
    return Branches.of(tuple(_parts(split, f"{where}.split")), tuple(levels) if levels is not None else None)


def _parts(split: list[Any], where: str) -> list[int]:
    """Integer parts from explicit channels ([48, 16]) or ratios ([0.75, 0.25])."""
    require(
        all(isinstance(p, (int, float)) and not isinstance(p, bool) and p > 0 for p in split),
        where,
        f"{split} must be positive numbers",
    )
    if all(isinstance(p, int) for p in split):
        return [int(p) for p in split]
    fractions = [Fraction(p).limit_denominator(256) for p in split]
    scale = math.lcm(*(f.denominator for f in fractions))
    return [int(f * scale) for f in fractions]


def _edge_from(data: Any, where: str) -> Edge:
    require(isinstance(data, dict), where, "must be an object")
    _check_keys(data, EDGE_KEYS, where)
    for key in ("src", "dst"):
        require(isinstance(data.get(key), int), f"{where}.{key}", "must be a branch index")
    first = data.get("resample_first")
    require(first is None or isinstance(first, bool), f"{where}.resample_first", "must be true, false or null")
    return Edge(
        src=data["src"],
        dst=data["dst"],
        op=cast(Op, data.get("op", "conv")),
        kernel=data.get("kernel"),
        resample=data.get("resample"),
        resample_first=first,
        tie=data.get("tie"),
    )
