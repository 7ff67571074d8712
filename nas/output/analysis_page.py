"""nas.analyze's figures: EDFs with bootstrap bands (plain and complexity-normalised), error vs MACs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import plotly.graph_objects as go

from nas.analysis.stats import bootstrap_band, edf
from nas.analysis.subspaces import SubspaceAnalysis, as_dict, summary
from nas.files import write_atomically
from nas.output.page import Report, save_to_dashboard, write_html

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def error_name(analysis: SubspaceAnalysis) -> str:
    return "proxy error" if analysis.budget_x == 1 else f"error at {analysis.budget_x:g}x the proxy budget"


def edf_figure(analysis: SubspaceAnalysis, normalised: bool, n_boot: int, seed: int = 0) -> go.Figure:
    """EDFs with 95 % bootstrap bands, one colour per sub-space."""
    rng = np.random.default_rng(seed)
    fig = go.Figure()
    weights = analysis.normalised.weights if (normalised and analysis.normalised) else None
    for i, s in enumerate(analysis.subspaces):
        w = weights[i] if weights is not None else np.ones(s.n) / s.n
        keep = w > 0
        if not keep.any():
            continue
        colour = COLOURS[i % len(COLOURS)]
        low, high = bootstrap_band(s.error[keep], analysis.grid, w[keep], n_boot=n_boot, rng=rng)
        x = np.concatenate([analysis.grid, analysis.grid[::-1]])
        fig.add_trace(
            go.Scatter(x=x, y=np.concatenate([high, low[::-1]]), fill="toself", line={"width": 0},
                       fillcolor=colour, opacity=0.15, hoverinfo="skip", showlegend=False)
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=analysis.grid,
                y=edf(s.error[keep], analysis.grid, w[keep]),
                mode="lines",
                line={"shape": "hv", "color": colour},
                name=f"{s.name} (n={int(keep.sum())})",
            )
        )
    kind = "Normalised EDF" if normalised else "EDF"
    fig.update_layout(
        title={"text": f"{kind} of {error_name(analysis)}", "subtitle": {"text": "95 % bootstrap bands"}},
        xaxis_title=f"error: dB below the best architecture ({analysis.best_psnr:.3f} dB)",
        yaxis_title="fraction of architectures with error <= x",
        yaxis_range=[0, 1.02],
    )
    return fig


def error_figure(analysis: SubspaceAnalysis) -> go.Figure:
    fig = go.Figure()
    for i, s in enumerate(analysis.subspaces):
        fig.add_trace(
            go.Scatter(x=s.macs / 1e9, y=s.error, mode="markers", name=s.name,
                       marker={"color": COLOURS[i % len(COLOURS)], "size": 9},
                       text=[r.name for r in s.members])
        )  # fmt: skip
    fig.update_layout(
        title={"text": f"{error_name(analysis).capitalize()} vs MACs", "subtitle": {"text": "by sub-space"}},
        xaxis_title="G MACs (full network, 128x128 LR)",
        xaxis_type="log",
        yaxis_title="error (dB below the best)",
    )
    return fig


FIGURE_ORDER = ("analyze-edf", "analyze-edf-normalised", "analyze-error-vs-macs")  # ids without the budget suffix


def captions(suffix: str) -> dict[str, str]:
    """What the figures' short titles leave out, by graph-object id."""
    return {
        f"analyze-edf{suffix}": "Empirical distribution of the error (dB below the study's best architecture) "
        "of each sub-space, with a 95 % bootstrap band; a curve further left and higher holds better architectures.",
        f"analyze-edf-normalised{suffix}": "The same, each sub-space reweighted to one distribution of MACs "
        "(log-MAC bins), so a sub-space is not favoured for holding larger networks.",
        f"analyze-error-vs-macs{suffix}": "Each architecture's error against the full network's MACs "
        "(128x128 LR), coloured by sub-space.",
    }


def write_analysis(
    study: optuna.Study, analysis: SubspaceAnalysis, out: Path, n_boot: int, dashboard: bool
) -> list[str]:
    """analysis.html, analysis.json and summary.txt in ``out`` (and the figures in the study); the summary."""
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if analysis.budget_x == 1 else f"-x{analysis.budget_x:g}"  # a longer budget's sit beside the proxy's
    figures = {f"analyze-edf{suffix}": edf_figure(analysis, False, n_boot)}
    if analysis.normalised is not None:  # else the summary says why there is none; no copy of the plain EDF
        figures[f"analyze-edf-normalised{suffix}"] = edf_figure(analysis, True, n_boot)
    figures[f"analyze-error-vs-macs{suffix}"] = error_figure(analysis)
    lines = summary(analysis)
    report = Report(f"{analysis.study}: design-space EDFs", lines, figures, captions(suffix))
    write_html(out / "analysis.html", report)
    write_atomically(out / "analysis.json", json.dumps(as_dict(analysis), indent=1))
    write_atomically(out / "summary.txt", "\n".join(lines) + "\n")
    if dashboard:  # last: a storage that cannot take the figures leaves every file written
        save_to_dashboard(study, report)
    return [*lines, f"wrote analysis.html, analysis.json and summary.txt in {out}"]
