"""The report's figures: PSNR fronts with the proxy's noise drawn, region classes, hypervolume, curves.

A y axis never spans less than ``MIN_SPAN_ROPES`` times the study's ROPE, so a difference within the margin
of practical equivalence (0.002 dB between two points) is drawn as the sliver it is, not as a cliff; where the
seed noise is measured, each point carries its 95 % interval as an error bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nas.analysis.fronts import hypervolume_history, pareto_mask
from nas.analysis.noise import STATUS_LABELS, NoiseFront, Z
from nas.output.report_labels import label_positions
from nas.study import keys
from nas.study.objectives import names as objective_names
from nas.study.records import ArchRecord
from studies import DEFAULT_ROPE

AXES = {"macs": ("G MACs (full network, 128x128 LR)", 1e9), "params": ("M params", 1e6)}
MIN_SPAN_ROPES = 4.0  # the least y span, in ROPEs: a gap within the margin stays small on the page
PAD = 0.08  # of the span, above and below the data, for the labels
FADED, SOLID = 0.25, 1.0
DOMINATED_MARKER, DOMINATED_OPACITY, DOMINATED_TEXT = "#7f7f7f", 0.5, "#404040"  # faded markers, dark labels
NAMED, UNNAMED = "#1f77b4", "#9aa5b1"
STATUS_COLOURS = {"front": "#d62728", "tied": "#ff7f0e", "dominated": "#7f7f7f"}


@dataclass(frozen=True)
class Noise:
    """What the fronts draw of the proxy's noise: the study's ROPE, and the 95 % half-width of one run's PSNR
    from the pooled seed noise (nan: one seed everywhere, so it is not measured)."""

    rope: float = DEFAULT_ROPE
    run_half_width: float = math.nan

    @classmethod
    def of(cls, front: NoiseFront | None, rope: float) -> Noise:
        return cls(rope, Z * front.seed_sd if front is not None else math.nan)

    @property
    def measured(self) -> bool:
        return math.isfinite(self.run_half_width)


def noise_range(values: Sequence[float], half_widths: Sequence[float], rope: float) -> list[float]:
    """A y range holding every value with its interval (nan: none), at least MIN_SPAN_ROPES ropes tall, padded."""
    widths = np.nan_to_num(np.asarray(half_widths, dtype=float))
    low, high = float(np.min(np.asarray(values) - widths)), float(np.max(np.asarray(values) + widths))
    span = max(high - low, MIN_SPAN_ROPES * rope)
    middle = (low + high) / 2
    return [middle - span * (0.5 + PAD), middle + span * (0.5 + PAD)]


def error_bars(count: int, half_width: float, colour: str | None = None) -> dict[str, object] | None:
    """Plotly error bars of one half-width on every point; None when it is not measured."""
    if not math.isfinite(half_width):
        return None
    return {"type": "data", "array": [half_width] * count, "visible": True, "thickness": 1, "width": 3,
            **({"color": colour} if colour else {})}  # fmt: skip


# ---- the fronts ----


def pareto_figure(
    points: Sequence[ArchRecord], on_front: Sequence[bool], axis: str, noise: Noise | None = None
) -> go.Figure:
    """PSNR against MACs or params: the study's front solid, dominated faded (labels dark), the 2-D front as a step
    line, each point's seed noise as an error bar where measured, a y axis no narrower than the noise scale."""
    noise = noise or Noise()
    name, unit = AXES[axis]
    xy = [(getattr(p, axis) / unit, p.psnr) for p in points]
    count = len(points[0].objectives) if points else 0
    texts = [p.preset or (f"trial {p.number}" if f else "") for p, f in zip(points, on_front, strict=True)]
    y_range = noise_range([y for _, y in xy], [noise.run_half_width] * len(xy), noise.rope)
    places = label_positions(xy, texts, y_range)
    fig = go.Figure()
    for solid, label in ((True, f"on the {count}-objective front"), (False, "dominated")):
        chosen = [i for i, f in enumerate(on_front) if f == solid]
        if chosen:  # no empty legend entry
            labels = [(texts[i], places[i]) for i in chosen]
            fig.add_trace(point_trace([points[i] for i in chosen], [xy[i][0] for i in chosen], label, solid, labels))
            fig.data[-1].error_y = error_bars(len(chosen), noise.run_half_width, None if solid else DOMINATED_MARKER)
    fig.add_trace(front_line(xy))
    bars = "; bars: a run's 95 % seed noise" if noise.measured else ""
    fig.update_layout(
        title={"text": f"PSNR vs {name.split(' (')[0]}", "subtitle": {"text": f"solid: front{bars}"}},
        xaxis_title=name,
        yaxis_title="proxy PSNR (dB)",
        yaxis_range=y_range,
    )
    return fig


def point_trace(
    points: Sequence[ArchRecord], xs: Sequence[float], label: str, solid: bool, labels: Sequence[tuple[str, str]]
) -> go.Scatter:
    """Markers with their labels (text, position), details on hover; a dominated point's marker is faded, its label
    is not."""
    marker = {"size": 11} if solid else {"size": 8, "color": DOMINATED_MARKER, "opacity": DOMINATED_OPACITY}
    return go.Scatter(
        x=list(xs),
        y=[p.psnr for p in points],
        mode="markers+text",
        name=label,
        text=[text for text, _ in labels],
        textposition=[place for _, place in labels],
        textfont=None if solid else {"color": DOMINATED_TEXT},
        cliponaxis=False,  # a label near the edge is drawn whole
        marker=marker,
        customdata=[[p.number, p.name, p.macs / 1e9, p.params / 1e6] for p in points],
        hovertemplate="trial %{customdata[0]} %{customdata[1]}<br>PSNR %{y:.3f} dB<br>"
        "%{customdata[2]:.3f} G MACs, %{customdata[3]:.4f} M params<extra></extra>",
    )


def regions_figure(points: Sequence[ArchRecord], rope: float = DEFAULT_ROPE) -> go.Figure | None:
    """One PSNR-vs-MACs panel per region class the proxy runs recorded (``psnr_<class>``), each with its own
    2-D front and its named variants labelled: where a family wins on dense structure but loses on flat regions,
    the fronts differ."""
    regions = sorted({k for p in points for k in keys.region_keys(p.trial.user_attrs)})
    if not regions:
        return None
    cols = min(2, len(regions))
    rows = math.ceil(len(regions) / cols)
    titles = [k.removeprefix(keys.REGION_PREFIX) for k in regions]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=0.18, horizontal_spacing=0.12)
    for i, key in enumerate(regions):
        row, col = divmod(i, cols)
        have = [p for p in points if isinstance(p.attr(key), (int, float))]
        xy = [(p.macs / AXES["macs"][1], float(p.attr(key))) for p in have]
        y_range = noise_range([y for _, y in xy], [0.0] * len(xy), rope)
        fig.add_trace(region_trace(have, xy, y_range), row=row + 1, col=col + 1)
        line = front_line(xy)
        line.showlegend = False
        fig.add_trace(line, row=row + 1, col=col + 1)
        fig.update_yaxes(range=y_range, row=row + 1, col=col + 1)
    fig.update_yaxes(title_text="dB")
    fig.update_xaxes(title_text="G MACs")
    fig.update_layout(
        title={"text": "PSNR by region class", "subtitle": {"text": "blue: named variants; dotted: the class's front"}},
        height=300 * rows + 120,
        margin={"t": 110},
    )
    return fig


def region_trace(
    points: Sequence[ArchRecord], xy: Sequence[tuple[float, float]], y_range: Sequence[float]
) -> go.Scatter:
    """One region class's points, the named variants blue and labelled by name."""
    texts = [p.preset or "" for p in points]
    return go.Scatter(
        x=[x for x, _ in xy],
        y=[y for _, y in xy],
        mode="markers+text",
        marker={"color": [NAMED if p.preset else UNNAMED for p in points]},
        text=texts,
        textposition=label_positions(xy, texts, y_range),
        textfont={"size": 10},
        cliponaxis=False,
        hovertext=[p.preset or f"trial {p.number}" for p in points],
        hovertemplate="%{hovertext}: %{y:.3f} dB at %{x:.2f} G MACs<extra></extra>",
        showlegend=False,
    )


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


def noise_figure(front: NoiseFront) -> go.Figure:
    """PSNR (mean +- 95 % interval) against MACs, coloured by standing, on an axis no narrower than the noise scale."""
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
    means = [p.mean for p in front.points]
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
        yaxis_range=noise_range(means, [front.half_width(i) for i in range(len(means))], front.margin.rope),
    )
    return fig


# ---- the search's progress ----


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
