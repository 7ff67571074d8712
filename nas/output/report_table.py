"""The table the report opens with: every evaluated architecture, its PSNR with the interval the seeds allow, its
gain over bicubic, its costs and its standing against the front within the study's ROPE.

PSNR is the mean over an architecture's seed repeats; its 95 % interval comes from the seed noise pooled over
every architecture (``nas.analysis.noise``), so with one seed everywhere it is "not enough data".  The standing
is the noise-aware front's: *on the front*; *dominated* only when a rival that costs no more is better by more
than the ROPE (``nas.analysis.verdict``, images a sample where every run has per-image PSNRs); *within* the ROPE
of the front when every rival is decided practically equivalent; else *open*, with the verdict's difference and
interval or what it lacks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from nas.analysis.noise import NoiseFront
from nas.analysis.verdict import PairVerdict
from nas.study import keys
from nas.study.records import ArchRecord
from studies import LATENCY

ON_FRONT, WITHIN, OPEN, DOMINATED = 0, 1, 2, 3  # standings, in the table's order
STANDING_COLOURS = {ON_FRONT: "#fde2e2", WITHIN: "#fff1dc", OPEN: "#ffffff", DOMINATED: "#ececec"}
NOT_ENOUGH = "not enough data: one seed"
TRIAL, NAME, PSNR, INTERVAL, SEEDS, GAIN = (
    "trial", "architecture", "PSNR (dB)", "95 % interval", "seeds", "gain vs bicubic (dB)"
)  # fmt: skip
MACS, PARAMS, STANDING, SPEC_HASH = "G MACs", "M params", "standing", "spec_hash"
SHORT = {ON_FRONT: "front", WITHIN: "within the ROPE", OPEN: "open", DOMINATED: "dominated"}  # a card's words
WIDTHS = {TRIAL: 0.5, NAME: 1.3, INTERVAL: 1.6, SEEDS: 0.5, SPEC_HASH: 1.6, STANDING: 3.4}  # else 1


@dataclass(frozen=True)
class Row:
    """One architecture as the table shows it."""

    record: ArchRecord
    psnr: float  # mean over its seeds
    seeds: int
    half_width: float  # of the 95 % interval of that mean (nan: the seed noise is not measured)
    standing: int  # ON_FRONT, WITHIN, OPEN or DOMINATED
    why: str  # the standing in words


def table_rows(points: Sequence[ArchRecord], on_front: Sequence[bool], noisy: NoiseFront | None) -> list[Row]:
    """A row per architecture, the front first, then within the margin, open and dominated, each by MACs."""
    index = {p.number: i for i, p in enumerate(noisy.points)} if noisy is not None else {}
    rows = []
    for record, front in zip(points, on_front, strict=True):
        i = index.get(record.number)
        if noisy is None or i is None:
            standing = (ON_FRONT, "on the front") if front else (OPEN, f"open: {NOT_ENOUGH}, no per-image PSNRs")
            rows.append(Row(record, record.psnr, 1, math.nan, *standing))
            continue
        point = noisy.points[i]
        rows.append(Row(record, point.mean, len(point.psnr), noisy.half_width(i), *standing_of(noisy, i)))
    return sorted(rows, key=lambda r: (r.standing, r.record.macs, r.record.number))


def standing_of(noisy: NoiseFront, i: int) -> tuple[int, str]:
    """Point ``i``'s standing on the noise-aware front, naming the rival it is weighed against."""
    rope = noisy.margin.rope
    if noisy.status[i] == "front" or not noisy.rivals[i]:
        return ON_FRONT, "on the front"
    verdicts = [(j, noisy.verdicts[(j, i)]) for j in noisy.rivals[i]]
    if noisy.status[i] == "dominated":
        j, v = max(((j, v) for j, v in verdicts if v.decision == "better"), key=lambda jv: jv[1].difference)
        return DOMINATED, f"dominated beyond +-{rope:g} dB by {rival(noisy, j)}: {difference(v)}"
    undecided = [(j, v) for j, v in verdicts if v.decision != "equivalent"]
    j, v = max(undecided or verdicts, key=lambda jv: noisy.points[jv[0]].mean)
    if not undecided:
        return WITHIN, f"within +-{rope:g} dB of the front: equivalent to {rival(noisy, j)}, {difference(v)}"
    return OPEN, f"open against {rival(noisy, j)}: {difference(v)}"


def rival(noisy: NoiseFront, j: int) -> str:
    point = noisy.points[j]
    return f"{point.name} (trial {point.number})"


def difference(v: PairVerdict) -> str:
    """The rival's lead with its interval, or why there is none (the verdict's reason up to its details)."""
    if math.isfinite(v.se):
        return f"{v.difference:+.3f} dB [{v.low:+.3f}, {v.high:+.3f}]"
    lead = f"{v.difference:+.3f} dB, " if math.isfinite(v.difference) else ""
    return lead + v.reason.split(" (")[0]


def interval_text(row: Row) -> str:
    """The 95 % half-width, or why there is none: one seed, or too few repeats anywhere to measure the seed noise
    (it needs 2 or more seeds of 2 or more architectures)."""
    if math.isfinite(row.half_width):
        return f"+-{row.half_width:.3f}"
    return NOT_ENOUGH if row.seeds == 1 else "not enough data: seed noise not measured"


def latency_column(rows: Sequence[Row]) -> dict[str, list[object]]:
    """CPU latency where measured (an objective of a latency study, else a recorded attribute); no column when
    nothing was measured."""
    found = [r.record.values.get(LATENCY.name, r.record.attr(keys.LATENCY_MS)) for r in rows]
    if not any(isinstance(v, (int, float)) for v in found):
        return {}
    return {LATENCY.label: [f"{v:.3g}" if isinstance(v, (int, float)) else "not measured" for v in found]}


def columns(rows: Sequence[Row]) -> dict[str, list[object]]:
    """The table's columns by header."""
    extra = [o for o in (rows[0].record.objectives[3:] if rows else ()) if o != LATENCY]
    return {
        TRIAL: [r.record.number for r in rows],
        NAME: [r.record.preset or "" for r in rows],
        PSNR: [f"{r.psnr:.3f}" for r in rows],
        INTERVAL: [interval_text(r) for r in rows],
        SEEDS: [r.seeds for r in rows],
        GAIN: ["" if r.record.gain is None else f"{r.record.gain:+.3f}" for r in rows],
        MACS: [f"{r.record.macs / 1e9:.3f}" for r in rows],
        PARAMS: [f"{r.record.params / 1e6:.4f}" for r in rows],
        **latency_column(rows),
        **{o.label: [f"{r.record.value(o):.4g}" for r in rows] for o in extra},
        STANDING: [r.why for r in rows],
        SPEC_HASH: [r.record.spec_hash for r in rows],
    }


def card_columns(rows: Sequence[Row]) -> dict[str, list[object]]:
    """The few columns a half-width dashboard card holds legibly; the page has them all."""
    return {
        TRIAL: [r.record.number for r in rows],
        NAME: [r.record.preset or r.record.spec_hash[:8] for r in rows],
        PSNR: [f"{r.psnr:.3f}" for r in rows],
        MACS: [f"{r.record.macs / 1e9:.3f}" for r in rows],
        STANDING: [SHORT[r.standing] for r in rows],
    }


def table_figure(rows: Sequence[Row], card: bool = False) -> go.Figure:
    """Every architecture as a table, each row shaded by its standing (``card``: the columns a card holds)."""
    table = card_columns(rows) if card else columns(rows)
    shade = [STANDING_COLOURS[r.standing] for r in rows]
    cells = {
        "values": list(table.values()),
        "font": {"size": 11},
        "fill": {"color": [shade] * len(table)},
        "align": ["left" if name in (NAME, STANDING, SPEC_HASH) else "right" for name in table],
    }
    header = {"values": list(table), "font": {"size": 11}}
    fig = go.Figure(go.Table(columnwidth=[WIDTHS.get(name, 1.0) for name in table], header=header, cells=cells))
    fig.update_layout(
        title={
            "text": "Every architecture",
            "subtitle": {
                "text": "front first; all columns in report.html" if card else "front first; PSNR mean over seeds"
            },
        },
        height=160 + 34 * len(rows),
        margin={"t": 90, "l": 20, "r": 20, "b": 20},
    )
    return fig
