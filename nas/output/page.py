"""One self-contained HTML page of sentences and plotly figures, and the same figures in optuna-dashboard."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import plotly.graph_objects as go
from optuna_dashboard import save_plotly_graph_object

from nas.errors import StorageFault
from nas.files import write_atomically as write_atomically  # also for the JSON files of nas.verdict
from nas.study.faults import STORAGE_ERRORS, storage_fault


@dataclass(frozen=True)
class Report:
    """What the page and the dashboard show: figures by graph-object id, and plain-text sentences."""

    title: str
    lines: list[str]
    figures: dict[str, go.Figure]
    captions: dict[str, str] = field(default_factory=dict)  # by graph-object id: what a short title leaves out
    cards: dict[str, go.Figure] = field(default_factory=dict)  # by id: a smaller version for a dashboard card
    lead: tuple[str, ...] = ()  # ids of the figures the page opens with, above the sentences


def write_html(path: Path, report: Report) -> None:
    """One self-contained page (plotly.js inline, so it opens offline), written beside and then renamed: the lead
    figures, the sentences, the other figures."""
    lead = [graph_id for graph_id in report.lead if graph_id in report.figures]
    order = [*lead, *(graph_id for graph_id in report.figures if graph_id not in lead)]
    blocks = [
        report.figures[graph_id].to_html(full_html=False, include_plotlyjs=i == 0, div_id=graph_id)
        + caption(report.captions.get(graph_id))
        for i, graph_id in enumerate(order)
    ]
    sentences = "\n".join(paragraph(line) for line in report.lines)
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(report.title)}</title></head>\n'
        f"<body>\n<h1>{html.escape(report.title)}</h1>\n"
        + "\n".join([*blocks[: len(lead)], sentences, *blocks[len(lead) :]])
        + "\n</body></html>\n"
    )
    write_atomically(path, page)


def paragraph(line: str) -> str:
    """A line as HTML; an indented line (a table row of a text summary) keeps its spacing."""
    if line.startswith(" "):
        return f'<p style="white-space: pre; font-family: monospace; margin: 0">{html.escape(line)}</p>'
    return f"<p>{html.escape(line)}</p>"


def caption(text: str | None) -> str:
    return "" if not text else f'<p style="margin: 0 0 2em 0; color: #444">{html.escape(text)}</p>'


def card(fig: go.Figure) -> go.Figure:
    """The figure for optuna-dashboard's fixed-height card: no height of its own, so it fits the card."""
    fitted = go.Figure(fig)
    fitted.layout.height = None
    return fitted


def save_to_dashboard(study: optuna.Study, report: Report) -> None:
    """Store the figures in the study under fixed ids, so optuna-dashboard shows them and a rerun replaces them;
    a storage that cannot take them (read-only, full) is one line saying how to do without."""
    try:
        for graph_id, fig in report.figures.items():
            save_plotly_graph_object(study, card(report.cards.get(graph_id, fig)), graph_object_id=graph_id)
    except STORAGE_ERRORS as err:
        fault = storage_fault(err)
        if fault is None:
            raise
        raise StorageFault(f"{fault}; the figures were not saved into the study (--no-dashboard skips them)") from None
