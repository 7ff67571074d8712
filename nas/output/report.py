"""A search's Pareto front as figures and sentences: fronts, hypervolume, matrices, the front table.

Only COMPLETE trials are points: an over-budget trial is PRUNED before training and appears
nowhere; a repeated architecture counts once (``nas.study.records``).  Objectives are the
study's, by name: a latency study's fourth objective is on its front, table and hypervolume.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np
import optuna
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nas.analysis.fronts import MARGIN, front_mask, hypervolume_history, pareto_mask
from nas.analysis.noise import STATUS_LABELS, NoiseFront, noise_aware, noise_lines, noisy_points, seed_runs
from nas.analysis.verdict import Margin
from nas.errors import InputError
from nas.output import verdict_page
from nas.output.page import Report
from nas.study import keys
from nas.study.naming import expected_variants, join_names, plural
from nas.study.objectives import names as objective_names
from nas.study.records import ArchRecord, arch_records
from space import ArchSpec
from space.unit import DEFAULT_DOWN, DEFAULT_UP, FUSED_RESAMPLE, Branches, Edge, UnitSpec
from studies import DEFAULT_ROPE, StudyDef

MATRIX_COLUMNS = 3
CARD_MATRICES = 6  # matrices a dashboard card (450 px high, half a screen wide) holds legibly
FADED, SOLID = 0.25, 1.0
CELL_COLOURS = ("#ffffff", "#cfe2f3", "#fce5cd", "#d9ead3")  # absent, within a scale, across scales, identity
STATUS_COLOURS = {"front": "#d62728", "tied": "#ff7f0e", "dominated": "#7f7f7f"}


# ---- matrix text ----


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


def trial_names(names: Mapping[str, int]) -> str:
    return join_names(f"{name} (trial {number})" for name, number in names.items())


def variant_lines(
    front: Mapping[str, int],
    dominated: Mapping[str, int],
    unevaluated: Mapping[str, str],
    expected: Sequence[str] | None,
) -> list[str]:
    """Plain sentences on the named variants: on the front, dominated, not evaluated, absent.

    ``front`` and ``dominated`` map a name to its trial number, ``unevaluated`` a name to why it
    has no result, ``expected`` lists the named variants of the study's space (None: unknown).
    """
    seen = {*front, *dominated, *unevaluated}
    lines = [
        f"Named variants on the Pareto front: {trial_names(front)}.",
        f"Named variants evaluated but not on the front: {trial_names(dominated)}.",
    ]
    if unevaluated:
        lines.append(f"Named variants not evaluated: {join_names(f'{n} ({why})' for n, why in unevaluated.items())}.")
    if expected is None:
        lines.append("The study is not defined in studies/, so named variants absent from it are unknown.")
    else:
        lines.append(
            f"Named variants of the study's space absent from the study: "
            f"{join_names(n for n in expected if n not in seen)}."
        )
    return lines


def unevaluated_variants(trials: Sequence[optuna.trial.FrozenTrial], evaluated: set[str]) -> dict[str, str]:
    """Named variants with trials but no result: why (over budget, failed, still running)."""
    out: dict[str, str] = {}
    for t in sorted(trials, key=lambda t: t.number):
        name = t.user_attrs.get(keys.PRESET)
        if name and name not in evaluated and t.state != optuna.trial.TrialState.COMPLETE:
            out.setdefault(name, t.user_attrs.get(keys.REJECTED) or t.state.name.lower())
    return out


# ---- figures ----


AXES = {"macs": ("G MACs (full network, 128x128 LR)", 1e9), "params": ("M params", 1e6)}


def pareto_figure(points: Sequence[ArchRecord], on_front: Sequence[bool], axis: str) -> go.Figure:
    """PSNR against MACs or params: the study's front solid, dominated faded, the 2-D front as a step line."""
    name, unit = AXES[axis]
    xs = [getattr(p, axis) / unit for p in points]
    count = len(points[0].objectives) if points else 0
    texts = [p.preset or (f"trial {p.number}" if f else "") for p, f in zip(points, on_front, strict=True)]
    places = label_positions([(x, p.psnr) for x, p in zip(xs, points, strict=True)], texts)
    fig = go.Figure()
    for solid, label in ((True, f"on the {count}-objective front"), (False, "dominated")):
        chosen = [i for i, f in enumerate(on_front) if f == solid]
        if chosen:  # no empty legend entry
            fig.add_trace(
                point_trace(
                    [points[i] for i in chosen],
                    [xs[i] for i in chosen],
                    label,
                    solid,
                    [(texts[i], places[i]) for i in chosen],
                )
            )
    fig.add_trace(front_line([(x, p.psnr) for x, p in zip(xs, points, strict=True)]))
    fig.update_layout(
        title={"text": f"PSNR vs {name.split(' (')[0]}", "subtitle": {"text": "solid: front, faded: dominated"}},
        xaxis_title=name,
        yaxis_title="proxy PSNR (dB)",
    )
    return fig


def point_trace(
    points: Sequence[ArchRecord], xs: Sequence[float], label: str, solid: bool, labels: Sequence[tuple[str, str]]
) -> go.Scatter:
    """Markers with their labels (text, position), details on hover."""
    return go.Scatter(
        x=list(xs),
        y=[p.psnr for p in points],
        mode="markers+text",
        name=label,
        text=[text for text, _ in labels],
        textposition=[place for _, place in labels],
        cliponaxis=False,  # a label near the edge is drawn whole
        opacity=SOLID if solid else FADED,
        marker={"size": 11 if solid else 8},
        customdata=[[p.number, p.name, p.macs / 1e9, p.params / 1e6] for p in points],
        hovertemplate="trial %{customdata[0]} %{customdata[1]}<br>PSNR %{y:.3f} dB<br>"
        "%{customdata[2]:.3f} G MACs, %{customdata[3]:.4f} M params<extra></extra>",
    )


# Label boxes relative to the marker, in pixels (x right, y up), for a text of width w and height h.
PLACES = {
    "top center": lambda w, h: (-w / 2, 6, w / 2, 6 + h),
    "bottom center": lambda w, h: (-w / 2, -6 - h, w / 2, -6),
    "middle right": lambda w, h: (8, -h / 2, 8 + w, h / 2),
    "middle left": lambda w, h: (-8 - w, -h / 2, -8, h / 2),
    "top right": lambda w, h: (4, 4, 4 + w, 4 + h),
    "bottom left": lambda w, h: (-4 - w, -4 - h, -4, -4),
    "top left": lambda w, h: (-4 - w, 4, -4, 4 + h),
    "bottom right": lambda w, h: (4, -4 - h, 4 + w, -4),
}
PLOT_PX = (280.0, 260.0)  # a dashboard card's plot area, the smallest the figure is drawn at
CHAR_PX, LINE_PX, MARKER_PX = 7.0, 16.0, 6.0


def label_positions(xy: Sequence[tuple[float, float]], texts: Sequence[str]) -> list[str]:
    """A text position per point so that labels miss each other and the markers where they can (greedy, named
    and higher points first); estimated at a card's plot size, so a wider page only spreads them further."""
    pixels = to_pixels(xy)
    markers = [(x - MARKER_PX, y - MARKER_PX, x + MARKER_PX, y + MARKER_PX) for x, y in pixels]
    placed: list[tuple[float, float, float, float]] = []
    out = ["top center"] * len(xy)
    for i in sorted(range(len(xy)), key=lambda i: (not texts[i], -xy[i][1])):
        if not texts[i]:
            continue
        x, y = pixels[i]
        boxes = {place: shift(box(len(texts[i]) * CHAR_PX, LINE_PX), x, y) for place, box in PLACES.items()}
        others = placed + [m for j, m in enumerate(markers) if j != i]
        out[i] = min(boxes, key=lambda place: sum(overlap(boxes[place], o) for o in others))
        placed.append(boxes[out[i]])
    return out


def to_pixels(xy: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Data points in pixels of a PLOT_PX plot spanning their range (a zero range counts as one pixel)."""
    if not xy:
        return []
    (x_low, y_low), (x_high, y_high) = [min(v) for v in zip(*xy, strict=True)], [max(v) for v in zip(*xy, strict=True)]
    x_span, y_span = (x_high - x_low) or 1.0, (y_high - y_low) or 1.0
    return [(PLOT_PX[0] * (x - x_low) / x_span, PLOT_PX[1] * (y - y_low) / y_span) for x, y in xy]


def shift(b: tuple[float, float, float, float], x: float, y: float) -> tuple[float, float, float, float]:
    return (b[0] + x, b[1] + y, b[2] + x, b[3] + y)


def overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The area two boxes share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def regions_figure(points: Sequence[ArchRecord]) -> go.Figure | None:
    """One PSNR-vs-MACs panel per region class the proxy runs recorded (``psnr_<class>``), each with its own
    2-D front: where a family wins on dense structure but loses on flat regions, the fronts differ."""
    regions = sorted({k for p in points for k in keys.region_keys(p.trial.user_attrs)})
    if not regions:
        return None
    unit = AXES["macs"][1]
    cols = min(2, len(regions))
    rows = math.ceil(len(regions) / cols)
    titles = [k.removeprefix(keys.REGION_PREFIX) for k in regions]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=0.18, horizontal_spacing=0.12)
    for i, key in enumerate(regions):
        row, col = divmod(i, cols)
        have = [p for p in points if isinstance(p.attr(key), (int, float))]
        xy = [(p.macs / unit, float(p.attr(key))) for p in have]
        fig.add_trace(
            go.Scatter(
                x=[x for x, _ in xy],
                y=[y for _, y in xy],
                mode="markers",
                marker={"color": ["#1f77b4" if p.preset else "#9aa5b1" for p in have]},
                text=[p.preset or f"trial {p.number}" for p in have],
                hovertemplate="%{text}: %{y:.3f} dB at %{x:.2f} G MACs<extra></extra>",
                showlegend=False,
            ),
            row=row + 1,
            col=col + 1,
        )
        line = front_line(xy)
        line.showlegend = False
        fig.add_trace(line, row=row + 1, col=col + 1)
    fig.update_yaxes(title_text="dB")
    fig.update_xaxes(title_text="G MACs")
    fig.update_layout(
        title={"text": "PSNR by region class", "subtitle": {"text": "blue: named variants; dotted: the class's front"}},
        height=300 * rows + 120,
        margin={"t": 110},
    )
    return fig


def front_line(xy: Sequence[tuple[float, float]]) -> go.Scatter:
    """The 2-D front (x min, PSNR max) as a staircase."""
    mask = pareto_mask(xy, ("minimize", "maximize"))
    line = sorted({p for p, on in zip(xy, mask, strict=True) if on})
    return go.Scatter(
        x=[p[0] for p in line],
        y=[p[1] for p in line],
        mode="lines",
        line_shape="hv",
        name="2-D front",
        line={"dash": "dot"},
        hoverinfo="skip",
    )


def hypervolume_figure(points: Sequence[ArchRecord]) -> go.Figure:
    """Hypervolume after each newly evaluated architecture, on all of the study's objectives."""
    history = hypervolume_history([p.point for p in points], points[0].directions)
    fig = go.Figure(go.Scatter(x=[p.number for p in points], y=history, mode="lines+markers", line_shape="hv"))
    fig.update_layout(
        title={"text": "Hypervolume", "subtitle": {"text": f"of ({objective_names(points[0].objectives)})"}},
        xaxis_title="trial number",
        yaxis_title="hypervolume (fraction)",
        yaxis_range=[0, 1.02],
        xaxis={"tickformat": "d", "dtick": max(1, math.ceil(len(points) / 10))},  # whole trials only
    )
    if len(points) == 1:  # one point: a unit-wide axis around it, not -1..1
        fig.update_xaxes(range=[points[0].number - 0.5, points[0].number + 0.5])
    return fig


def curves_figure(points: Sequence[ArchRecord], key: str = keys.VAL_CURVE) -> go.Figure | None:
    """Each architecture's validation PSNR (or, with ``keys.LOSS_CURVE``, training loss) during its proxy run,
    named variants solid."""
    fig = go.Figure()
    for p in points:
        curve = p.attr(key)
        if not isinstance(curve, list) or not curve:
            continue
        fig.add_trace(
            go.Scatter(
                x=[int(t) for t, _ in curve],
                y=[float(v) for _, v in curve],
                mode="lines+markers",
                name=p.preset or f"trial {p.number}",
                opacity=SOLID if p.preset else FADED,
            )
        )
    if not fig.data:
        return None
    if key == keys.LOSS_CURVE:
        fig.update_layout(title="Proxy training loss", xaxis_title="iteration", yaxis_title="L1 loss", yaxis_type="log")
    else:
        fig.update_layout(title="Proxy learning curves", xaxis_title="iteration", yaxis_title="validation PSNR (dB)")
    return fig


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


TABLE_WIDTHS = {"trial": 0.6, "preset": 1.1, "SSIM": 0.9, "spec_hash": 1.9}  # else 1


def table_figure(points: Sequence[ArchRecord]) -> go.Figure:
    """The front as a table sorted by MACs, columns wide enough for their text in a half-width dashboard card."""
    ordered = sorted(points, key=lambda p: p.macs)
    columns = {
        "trial": [p.number for p in ordered],
        "preset": [p.preset or "" for p in ordered],
        "PSNR (dB)": [f"{p.psnr:.3f}" for p in ordered],
        "SSIM": ["" if p.ssim is None else f"{p.ssim:.4f}" for p in ordered],
        "G MACs": [f"{p.macs / 1e9:.3f}" for p in ordered],
        "M params": [f"{p.params / 1e6:.4f}" for p in ordered],
        "gain vs bicubic (dB)": [gain_text(p) for p in ordered],
        **{o.label: [f"{p.value(o):.4g}" for p in ordered] for o in (ordered[0].objectives[3:] if ordered else ())},
        "spec_hash": [p.spec_hash for p in ordered],
    }
    table = go.Table(
        columnwidth=[TABLE_WIDTHS.get(name, 1.0) for name in columns],
        header={"values": list(columns), "font": {"size": 11}},
        cells={"values": list(columns.values()), "font": {"size": 11}},
    )
    fig = go.Figure(table)
    fig.update_layout(
        title={"text": "Pareto front by MACs", "subtitle": {"text": "proxy PSNR, MACs of the full network"}},
        height=160 + 26 * len(ordered),
        margin={"t": 90, "l": 20, "r": 20, "b": 20},
    )
    return fig


def gain_text(record: ArchRecord) -> str:
    return "" if record.gain is None else f"{record.gain:+.3f}"


def noise_figure(front: NoiseFront) -> go.Figure:
    """PSNR (mean +- 95 % interval) against MACs, coloured by standing."""
    fig = go.Figure()
    for status, colour in STATUS_COLOURS.items():
        idx = [i for i, s in enumerate(front.status) if s == status]
        if not idx:
            continue
        fig.add_trace(
            go.Scatter(
                x=[front.points[i].macs / 1e9 for i in idx],
                y=[front.points[i].mean for i in idx],
                error_y={"type": "data", "array": [np.nan_to_num(front.half_width(i)) for i in idx]},
                mode="markers+text",
                text=[front.points[i].preset for i in idx],
                textposition="top center",
                marker={"color": colour, "size": 9},
                name=STATUS_LABELS[status],
            )
        )
    fig.update_layout(
        title={
            "text": "Noise-aware front",
            "subtitle": {
                "text": f"PSNR mean +- 95 %, seed SD {front.seed_sd:.3f} dB; dominated beyond +-{front.margin.rope:g}"
                if np.isfinite(front.seed_sd)
                else "one seed: the seed noise is not measured, nothing is dominated beyond the margin"
            },
        },
        xaxis_title="G MACs (full network, 128x128 LR)",
        yaxis_title="proxy PSNR (dB)",
    )
    return fig


# ---- the report ----


def build_report(study: optuna.Study, definition: StudyDef | None) -> Report:
    """Fronts, hypervolume, matrices and the front table of a study's COMPLETE trials."""
    trials = study.get_trials(deepcopy=False)
    points = arch_records(study)
    if not points:
        raise InputError(f"--study: {study.study_name!r} has no complete trial yet")
    on_front = front_mask(points)
    front = [p for p, f in zip(points, on_front, strict=True) if f]
    lines = [
        summary_line(study.study_name, trials, points, front),
        *named_sentences(trials, points, on_front, definition),
        *bicubic_warning(points),
        *small_front_warning(front),
    ]
    figures = {
        "msnas-pareto-macs": pareto_figure(points, on_front, "macs"),
        "msnas-pareto-params": pareto_figure(points, on_front, "params"),
        "msnas-hypervolume": hypervolume_figure(points),
        "msnas-front-matrices": matrices_figure(*drawn_points(points, on_front)),
        "msnas-front-table": table_figure(front),
    }
    for graph_id, key in (("msnas-learning-curves", keys.VAL_CURVE), ("msnas-loss-curves", keys.LOSS_CURVE)):
        curves = curves_figure(points, key)
        if curves is not None:
            figures[graph_id] = curves
    regions = regions_figure(points)
    if regions is not None:
        figures["msnas-regions"] = regions
    rope = definition.rope if definition is not None else DEFAULT_ROPE
    noisy = noise_aware(noisy_points(points, *seed_runs(study)), Margin(rope))
    if noisy is not None:
        lines += noise_lines(noisy)
        figures["msnas-noise-front"] = noise_figure(noisy)
    verdict = study.user_attrs.get(keys.VERDICT)
    if isinstance(verdict, dict):  # nas.verdict's decisions: its section of the page
        lines += verdict_page.summary_lines(verdict)
        figures |= verdict_page.verdict_figures(verdict)
    cards = {"msnas-front-matrices": matrices_figure(*drawn_points(points, on_front), most=CARD_MATRICES)}
    return Report(f"msnas report: study {study.study_name}", lines, figures, CAPTIONS | verdict_page.CAPTIONS, cards)


FIGURE_ORDER = (  # the page's order, which optuna-dashboard keeps through nas.dashboard
    "msnas-pareto-macs",
    "msnas-pareto-params",
    "msnas-hypervolume",
    "msnas-front-matrices",
    "msnas-front-table",
    "msnas-learning-curves",
    "msnas-loss-curves",
    "msnas-regions",
    "msnas-noise-front",
    *verdict_page.FIGURE_ORDER,
)


def drawn_points(points: Sequence[ArchRecord], on_front: Sequence[bool]) -> tuple[list[ArchRecord], list[bool]]:
    """The points whose matrices are drawn: the front, and the named variants off it."""
    chosen = [(p, f) for p, f in zip(points, on_front, strict=True) if f or p.preset]
    return [p for p, _ in chosen], [f for _, f in chosen]


CAPTIONS = {  # what a figure's short title leaves out, said once on the page
    "msnas-pareto-macs": "Proxy PSNR against the full network's MACs (paper convention, 128x128 LR input). Solid "
    "points lie on the Pareto front on all of the study's objectives, faded ones are dominated; the dotted "
    "staircase is the 2-D front of this plane. Named variants are labelled, unnamed front points by their trial.",
    "msnas-pareto-params": "The same points against parameters.",
    "msnas-regions": "Validation PSNR over the pixels of one region class (nas.sr.regions: flat, edge, texture, "
    "periodic dense structure; classed from the HR images alone) against the full network's MACs, with each "
    "class's own 2-D front. A region's PSNR pools its pixels over the validation images.",
    "msnas-hypervolume": "Hypervolume after each newly evaluated architecture: each objective scaled to [0, 1] "
    f"between the study's best and worst complete values, reference point = worst + {MARGIN:.0%} of the range, "
    "shown as a fraction of that box.",
    "msnas-front-matrices": "Eqn-1 transform matrix of each front point and each dominated named variant: rows are "
    "output branches (Y), columns input branches (X); H is full resolution, L half (L2 a quarter); each axis label "
    "gives the branch's share of the channels. f_LH maps X_L to Y_H. Blank: absent; I: identity; going down pools "
    "then convolves and going up convolves then upsamples unless noted.",
    "msnas-front-table": "The Pareto front sorted by MACs; gain is the proxy PSNR over bicubic upsampling.",
    "msnas-learning-curves": "Validation PSNR during each proxy run; named variants solid, the others faded.",
    "msnas-loss-curves": "Mean training L1 loss over each tenth of each proxy run (log scale); named variants solid.",
    "msnas-noise-front": "PSNR with its 95 % interval, coloured by whether a point is on the front once noise counts.",
}


def bicubic_warning(points: Sequence[ArchRecord]) -> list[str]:
    """A warning when architectures scored at or below bicubic: the proxy ranks noise among them."""
    below = [p.name for p in points if not p.learned]
    if not below:
        return []
    return [
        f"WARNING: {len(below)} of {len(points)} architectures score at or below bicubic upsampling "
        f"({join_names(below)}): the proxy learned nothing for them, so their ranking is noise."
    ]


def small_front_warning(front: Sequence[ArchRecord]) -> list[str]:
    """A warning when the front has two points or fewer: no knee to read, a hypervolume resting on one or two."""
    if len(front) > 2:
        return []
    return [
        f"WARNING: the Pareto front has {plural(len(front), 'point')}, so it has no knee (nas.export --knee takes the"
        " one with the fewest MACs) and its hypervolume rests on that few architectures."
    ]


def summary_line(
    name: str, trials: Sequence[optuna.trial.FrozenTrial], points: Sequence[ArchRecord], front: Sequence[ArchRecord]
) -> str:
    """Counts by state, architectures evaluated and front size."""
    states = [t.state.name.lower() for t in trials]
    counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    return (
        f"Study {name}: {plural(len(trials), 'trial')} ({counts}); "
        f"{plural(len(points), 'distinct architecture')} evaluated "
        f"(repeats and over-budget trials are not shown); {len(front)} on the Pareto front."
    )


def named_sentences(
    trials: Sequence[optuna.trial.FrozenTrial],
    points: Sequence[ArchRecord],
    on_front: Sequence[bool],
    definition: StudyDef | None,
) -> list[str]:
    """The sentences on the named variants for this study."""
    named = [(p.preset, p.number, f) for p, f in zip(points, on_front, strict=True) if p.preset]
    front = {name: number for name, number, f in named if f}
    dominated = {name: number for name, number, f in named if not f and name not in front}
    unevaluated = unevaluated_variants(trials, {*front, *dominated})
    expected = expected_variants(definition) if definition is not None else None
    return variant_lines(front, dominated, unevaluated, expected)
