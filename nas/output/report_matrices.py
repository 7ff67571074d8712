"""Each front point's Eqn-1 transform matrix: the entries as text (the paper's f_LH names) and as a coloured grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nas.study.records import ArchRecord
from space import ArchSpec
from space.unit import DEFAULT_DOWN, DEFAULT_UP, FUSED_RESAMPLE, Branches, Edge, UnitSpec

MATRIX_COLUMNS = 3
CARD_MATRICES = 6  # matrices a dashboard card (450 px high, half a screen wide) holds legibly
CELL_COLOURS = ("#ffffff", "#cfe2f3", "#fce5cd", "#d9ead3")  # absent, within a scale, across scales, identity


def kernel_text(kernel: int | None) -> str:
    """``3x3`` for a kernel; ``kxk`` when it is the layer's own and that is unknown."""
    return f"{kernel}x{kernel}" if kernel is not None else "kxk"


def order_note(unit: UnitSpec, edge: Edge) -> str:
    """A note when a cross-scale entry resamples in the non-default order (default: pool first, upsample last)."""
    if edge.resampling in ("none", *FUSED_RESAMPLE):
        return ""
    default_first = DEFAULT_DOWN[1] if unit.direction(edge) == "down" else DEFAULT_UP[1]
    if edge.resample_first == default_first:
        return ""
    return " (resample first)" if edge.resample_first else " (conv first)"


def cell_text(unit: UnitSpec, edge: Edge | None, layer_kernel: int | None) -> str:
    """One matrix entry as text: '3x3 shared', '1x1 avgpool', 'I' (identity), '' when absent."""
    if edge is None:
        return ""
    words = ["I" if edge.op == "identity" else kernel_text(edge.kernel or layer_kernel)]
    if edge.tie is not None:
        groups = {e.tie for e in unit.edges if e.tie is not None}
        words.append("shared" if len(groups) == 1 else f"shared {edge.tie}")
    if edge.resampling != "none":
        words.append(edge.resampling)
    return " ".join(words) + order_note(unit, edge)


def matrix_cells(unit: UnitSpec, layer_kernel: int | None) -> list[list[str]]:
    """The unit's Eqn-1 matrix as text: rows = output branch, columns = input branch."""
    by_pair = {(e.dst, e.src): e for e in unit.edges}
    return [
        [cell_text(unit, by_pair.get((dst, src)), layer_kernel) for src in range(unit.inputs.count)]
        for dst in range(unit.outputs.count)
    ]


def cell_kind(edge: Edge | None, unit: UnitSpec) -> int:
    """Colour index of a matrix entry: 0 absent, 1 within a scale, 2 across scales, 3 identity."""
    if edge is None:
        return 0
    if edge.op == "identity":
        return 3
    return 1 if unit.direction(edge) == "same" else 2


def branch_names(branches: Branches) -> list[str]:
    """Short names of a side's branches by resolution: H (full), L (half), L2 (quarter), L3; unique."""
    names = ["H" if level == 0 else "L" if level == 1 else f"L{level}" for level in branches.levels]
    if len(set(names)) < len(names):  # two branches at one resolution: number them
        names = [f"{name}{i}" for i, name in enumerate(names)]
    return names


def branch_labels(branches: Branches, side: str) -> list[str]:
    """Axis labels of the branches on one side of a unit (X inputs, Y outputs): name and share of the channels."""
    total = sum(branches.split)
    return [
        f"{side}_{name}<br>{Fraction(part, total)} ch"
        for name, part in zip(branch_names(branches), branches.split, strict=True)
    ]


def entry_name(src: str, dst: str) -> str:
    """The paper's name of a matrix entry from input branch ``src`` to output ``dst``: f_LH maps X_L to Y_H."""
    return f"f_{src}{dst}" if len(src) == len(dst) == 1 else f"f_{src},{dst}"


def drawn_units(spec: ArchSpec) -> list[tuple[UnitSpec, int | None, str]]:
    """The units to draw for a spec, each with its first layer's kernel and, for a layer-wise spec, a note.

    A layer-wise spec gives every distinct unit, in the order of the layer it first fills.
    """
    sites = spec.inner_sites
    if len(spec.units) == 1:
        return [(spec.units[0], sites[0].kernel if sites else None, "")]
    distinct = list(dict.fromkeys(spec.units))
    out: list[tuple[UnitSpec, int | None, str]] = []
    for j, unit in enumerate(distinct, 1):
        layers = [site for site, u in zip(sites, spec.units, strict=True) if u == unit]
        where = f"{len(layers)} layer{'s' if len(layers) > 1 else ''} from {layers[0].name}"
        out.append((unit, layers[0].kernel, f"unit {j}/{len(distinct)}: {where}"))
    return out


def matrix_title(point: ArchRecord, on_front: bool, note: str) -> str:
    """A panel's title: trial and name, whether it is dominated, and a layer-wise unit's note on a second line."""
    words = [f"trial {point.number}", *([point.preset] if point.preset else []), *([] if on_front else ["(dominated)"])]
    return " ".join(words) + (f"<br>{note}" if note else "")


def matrix_trace(unit: UnitSpec, kernel: int | None) -> go.Heatmap:
    """A unit's transform matrix as a coloured grid: each entry's paper name (f_LH: X_L to Y_H) and its op."""
    by_pair = {(e.dst, e.src): e for e in unit.edges}
    kinds = [
        [cell_kind(by_pair.get((d, s)), unit) for s in range(unit.inputs.count)] for d in range(unit.outputs.count)
    ]
    ins, outs = branch_names(unit.inputs), branch_names(unit.outputs)
    text = [
        [f"{entry_name(ins[s], outs[d])}<br>{cell}" if cell else "" for s, cell in enumerate(row)]
        for d, row in enumerate(matrix_cells(unit, kernel))
    ]
    steps = len(CELL_COLOURS)
    scale = [[(i + k) / steps, c] for i, c in enumerate(CELL_COLOURS) for k in (0, 1)]
    return go.Heatmap(
        z=kinds,
        x=branch_labels(unit.inputs, "X"),
        y=branch_labels(unit.outputs, "Y"),
        text=text,
        texttemplate="%{text}",
        colorscale=scale,
        zmin=-0.5,
        zmax=steps - 0.5,
        showscale=False,
        xgap=2,
        ygap=2,
        hoverinfo="skip",
    )


def matrices_figure(points: Sequence[ArchRecord], on_front: Sequence[bool], most: int | None = None) -> go.Figure:
    """Each point's transform matrix (rows = output branch, columns = input branch); every distinct unit of a
    layer-wise point. The points are the front and the dominated named variants; ``most`` points at most (a
    dashboard card: the front first, by MACs)."""
    panels = [
        (matrix_title(p, f, note), unit, kernel)
        for p, f in zip(points, on_front, strict=True)
        for unit, kernel, note in drawn_units(p.spec)
    ]
    subtitle = "front and named variants"
    if most is not None and len(points) > most:
        order = sorted(range(len(points)), key=lambda i: (not on_front[i], points[i].macs, points[i].number))[:most]
        shown = matrices_figure([points[i] for i in order], [on_front[i] for i in order])
        shown.update_layout(title_subtitle_text=f"{most} of {len(points)}: all in report.html")
        return shown
    cols = max(1, min(MATRIX_COLUMNS, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[title for title, _, _ in panels] or None,
        horizontal_spacing=0.4 / cols,  # room for the next panel's row labels
        vertical_spacing=min(0.3, 0.5 / rows),  # room for the axis labels below and the next row's titles
    )
    for i, (_, unit, kernel) in enumerate(panels):
        fig.add_trace(matrix_trace(unit, kernel), row=i // cols + 1, col=i % cols + 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="bottom", tickangle=0)
    fig.update_annotations(font_size=12)
    fig.update_layout(
        title={"text": "Transform matrices", "subtitle": {"text": subtitle}},
        height=120 + 300 * rows,
        margin={"t": 110},
    )
    return fig


def drawn_points(points: Sequence[ArchRecord], on_front: Sequence[bool]) -> tuple[list[ArchRecord], list[bool]]:
    """The points whose matrices are drawn: the front, and the named variants off it."""
    chosen = [(p, f) for p, f in zip(points, on_front, strict=True) if f or p.preset]
    return [p for p, _ in chosen], [f for _, f in chosen]
