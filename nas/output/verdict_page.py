"""The verdict as a page and as figures in the study: the pairwise decision matrix, the front with its groups.

Everything is drawn from ``verdict.json``'s data (``nas.analysis.race_report.report_data``), which the race
also stores on the study (``keys.VERDICT``), so ``nas.report`` draws the same figures without the runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from nas.output.page import Report, write_html

MATRIX_ID, FRONT_ID = "verdict-matrix", "verdict-front"
FIGURE_ORDER = (MATRIX_ID, FRONT_ID)
COLOURS = {"better": "#1a9850", "equivalent": "#4575b4", "worse": "#d73027", "open": "#fee08b"}
CODES = {"worse": 0, "open": 1, "equivalent": 2, "better": 3}
CAPTIONS = {
    MATRIX_ID: "Row against column at the target budget: green, the row is better by more than the ROPE; red, worse "
    "by more than it; blue, practically equivalent (inside the ROPE); yellow, open. Each cell gives the difference "
    "row - column (dB) and its interval.",
    FRONT_ID: "Mean PSNR over seeds at the target budget against MACs. Candidates in one equivalence group (pairwise "
    "practically equivalent) share a colour; a hollow marker left the race (hover: why).",
}


def target_pairs(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in data["pairs"] if p["budget"] == data["target_budget"]]


def order(data: Mapping[str, Any]) -> list[str]:
    """Candidate names by mean PSNR at the target budget, best first (untrained ones last)."""
    key = f"{data['target_budget']:g}"
    means: dict[str, float] = {}
    for c in data["candidates"]:
        mean = c["mean_psnr"].get(key)
        means[c["name"]] = float(mean) if mean is not None else -math.inf
    return sorted(means, key=lambda n: -means[n])


def cell(pair: Mapping[str, Any], flip: bool) -> tuple[str, str]:
    """(decision from the row's side, the cell's text)."""
    decision = pair["decision"]
    if flip:
        decision = {"better": "worse", "worse": "better"}.get(decision, decision)
    d, low, high = pair["difference"], pair["low"], pair["high"]
    if d is None:
        return decision, decision
    sign = -1.0 if flip else 1.0
    interval = ""
    if low is not None and high is not None:
        low, high = (-high, -low) if flip else (low, high)
        interval = f"<br>[{low:+.3f}, {high:+.3f}]"
    return decision, f"{decision}<br>{sign * d:+.3f}{interval}"


def matrix_figure(data: Mapping[str, Any]) -> go.Figure:
    """Row vs column: the decision's colour and the difference with its interval."""
    names = order(data)
    found = {(p["a_name"], p["b_name"]): (p, False) for p in target_pairs(data)}
    found |= {(p["b_name"], p["a_name"]): (p, True) for p in target_pairs(data)}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for row in names:
        cells = [cell(*found[(row, col)]) if (row, col) in found else (None, "") for col in names]
        z.append([None if d is None else CODES[d] for d, _ in cells])
        text.append([t for _, t in cells])
    scale = [(0.0, COLOURS["worse"]), (0.33, COLOURS["open"]), (0.66, COLOURS["equivalent"]), (1.0, COLOURS["better"])]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale=scale,
            zmin=0,
            zmax=3,
            showscale=False,
            hoverinfo="text",
            xgap=2,
            ygap=2,
        )
    )
    fig.update_layout(
        title={
            "text": f"Decisions at {data['target_budget']:g}x, ROPE +-{data['rope_db']:g} dB",
            "subtitle": {"text": "row vs column; green better, blue equivalent, red worse, yellow open"},
        },
        yaxis={"autorange": "reversed"},
        height=140 + 70 * len(names),
        margin={"t": 90},
    )
    return fig


def front_figure(data: Mapping[str, Any]) -> go.Figure:
    """Mean PSNR at the target budget against MACs, one colour per equivalence group, leavers hollow."""
    key = f"{data['target_budget']:g}"
    groups = data["groups"].get(key, [])
    fig = go.Figure()
    for i, members in enumerate(groups):
        rows = [c for c in data["candidates"] if c["name"] in members and c["mean_psnr"].get(key) is not None]
        fig.add_trace(
            go.Scatter(
                x=[c["costs"]["macs"] / 1e9 for c in rows],
                y=[c["mean_psnr"][key] for c in rows],
                mode="markers+text",
                text=[c["name"] for c in rows],
                textposition="top center",
                marker={"size": 12, "symbol": ["circle-open" if c["left"] else "circle" for c in rows]},
                hovertext=[f"{c['name']}: {c['left'] or 'in the race'}" for c in rows],
                name=f"group {i + 1}: " + ", ".join(members),
            )
        )
    fig.update_layout(
        title={
            "text": "Equivalence groups at the target budget",
            "subtitle": {"text": f"{key}x, mean over seeds; a group is pairwise within +-{data['rope_db']:g} dB"},
        },
        xaxis_title="G MACs (full network)",
        yaxis_title=f"PSNR at {key}x (dB)",
        margin={"t": 90},
    )
    return fig


def summary_lines(data: Mapping[str, Any]) -> list[str]:
    """The verdict in a few sentences, from its stored data (``nas.report``'s section)."""
    key = f"{data['target_budget']:g}"
    lines = [
        f"Verdict ({data['stopped']}): ROPE +-{data['rope_db']:g} dB, {data['rule'].upper()} at alpha "
        f"{data['alpha']:g} over {data['looks']} look(s), images {data['images']}, at {key}x the proxy; "
        f"{data['trainings']['runs']} runs ({data['trainings']['at_target_units']:.1f} at {key}x in compute)."
    ]
    for p in target_pairs(data):
        d = "" if p["difference"] is None else f" ({p['difference']:+.3f} dB)"
        lines.append(f"  {p['a_name']} vs {p['b_name']}: {p['decision']}{d}")
    groups = data["groups"].get(key, [])
    lines.append("Equivalence groups, best first: " + "; ".join(", ".join(g) for g in groups) + ".")
    lines += [f"{name} left the race: {why}." for name, why in data["left"].items()]
    return lines


def verdict_figures(data: Mapping[str, Any]) -> dict[str, go.Figure]:
    return {MATRIX_ID: matrix_figure(data), FRONT_ID: front_figure(data)}


def verdict_report(data: Mapping[str, Any], lines: Sequence[str]) -> Report:
    return Report(f"msnas verdict: study {data.get('study', '')}", list(lines), verdict_figures(data), CAPTIONS)


def write_page(path: Path, data: Mapping[str, Any], lines: Sequence[str]) -> Path:
    write_html(path, verdict_report(data, lines))
    return path
