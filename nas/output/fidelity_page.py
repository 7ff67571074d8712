"""nas.fidelity's outputs: fidelity.json and a scatter of proxy vs long-budget PSNR."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from nas.analysis.fidelity import FidelityStats
from nas.files import write_atomically


def write_outputs(folder: Path, stats: FidelityStats, name: str) -> str:
    """fidelity.json and a scatter of proxy vs long-budget PSNR (HTML) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "fidelity.json", json.dumps(stats.as_dict(), indent=1))
    fig = go.Figure(
        go.Scatter(
            x=[a.proxy_psnr for a in stats.archs],
            y=[a.mean for a in stats.archs],
            error_y={"type": "data", "array": [0 if np.isnan(a.sd) else a.sd for a in stats.archs]},
            mode="markers+text",
            text=[a.pick.record.preset or "" for a in stats.archs],
            textposition="top center",
        )
    )
    fig.update_layout(
        title=f"{name}: proxy vs {stats.factor:g}x budget (Kendall tau {stats.proxy.kendall_tau:+.2f})",
        xaxis_title="proxy PSNR (dB)",
        yaxis_title=f"PSNR at {stats.factor:g}x, mean over seeds (dB)",
    )
    write_atomically(folder / "fidelity.html", fig.to_html(include_plotlyjs=True))
    return f"wrote {folder / 'fidelity.json'} and {folder / 'fidelity.html'}"
