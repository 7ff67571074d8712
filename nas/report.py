"""``python -m nas.report --study NAME --out report.html``: a search's Pareto front as one offline HTML page.

The page holds PSNR-vs-MACs and PSNR-vs-params fronts (named paper variants
labelled, dominated points faded), the hypervolume history, each front point's
transform matrix and a table of the front, and says which named variants lie on
the front.  The same figures are saved into the study, where optuna-dashboard
shows them.  Only COMPLETE trials are points: an over-budget trial is PRUNED
before training and appears nowhere; a repeated architecture counts once.

Examples::

    python -m nas.report --study ms3 --out report.html            # storage runs/msnas.db by default
    python -m nas.report --study tiny --storage sqlite:///runs/tiny.db --out tiny.html --no-dashboard
"""

from __future__ import annotations

import argparse
import html
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
import plotly.graph_objects as go
from optuna_dashboard import save_plotly_graph_object
from plotly.subplots import make_subplots

from nas.cli import Parser, UsageError, run_cli
from nas.noisefront import noise_aware, noise_figure, noise_lines, noisy_points, seed_results
from nas.records import join_names, open_existing_study
from nas.search import DEFAULT_STORAGE, definition_of, named_points
from nas.stats import hypervolume
from space import ArchSpec, load_spec
from space.unit import DEFAULT_DOWN, DEFAULT_UP, FUSED_RESAMPLE, Branches, Edge, UnitSpec
from studies import DIRECTIONS, StudyDef

Values = Sequence[float]
MARGIN = 0.1  # hypervolume reference point: each objective's worst value plus 10 % of its range
MATRIX_COLUMNS = 4
FADED, SOLID = 0.25, 1.0
CELL_COLOURS = ("#ffffff", "#cfe2f3", "#fce5cd", "#d9ead3")  # absent, within a scale, across scales, identity


# ---- pure functions: fronts, hypervolume, matrix text, named variants ----


def dominates(a: Values, b: Values, directions: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and strictly better in one."""
    better = False
    for x, y, direction in zip(a, b, directions, strict=True):
        loss_a, loss_b = (-x, -y) if direction == "maximize" else (x, y)
        if loss_a > loss_b:
            return False
        better = better or loss_a < loss_b
    return better


def pareto_mask(points: Sequence[Values], directions: Sequence[str]) -> list[bool]:
    """For each point, whether no other point dominates it (equal points are all kept)."""
    return [not any(dominates(other, p, directions) for other in points) for p in points]


def scaled_losses(points: Sequence[Values], directions: Sequence[str]) -> list[tuple[float, ...]]:
    """Points as losses scaled per objective to [0, 1]: 0 = the best value among them, 1 = the worst."""
    losses = [tuple(-x if d == "maximize" else x for x, d in zip(p, directions, strict=True)) for p in points]
    columns = list(zip(*losses, strict=True))
    low = [min(column) for column in columns]
    span = [(max(column) - lo) or 1.0 for column, lo in zip(columns, low, strict=True)]
    return [tuple((x - lo) / s for x, lo, s in zip(p, low, span, strict=True)) for p in losses]


def hypervolume_history(points: Sequence[Values], directions: Sequence[str], margin: float = MARGIN) -> list[float]:
    """Hypervolume after each point, as a fraction of the box from the ideal point to the reference point.

    Objectives are scaled by :func:`scaled_losses` over all the points; the reference point is
    ``1 + margin`` in every scaled objective (the worst value plus ``margin`` of the range).
    """
    reference = (1.0 + margin,) * len(directions)
    box = math.prod(reference)
    minimise = ("minimize",) * len(directions)
    front: list[tuple[float, ...]] = []
    history: list[float] = []
    volume = 0.0
    for p in scaled_losses(points, directions):
        if not any(dominates(q, p, minimise) for q in front):
            front = [q for q in front if not dominates(p, q, minimise)] + [p]
            volume = hypervolume(front, reference) / box
        history.append(volume)
    return history


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


def branch_labels(branches: Branches, side: str) -> list[str]:
    """Axis labels of the branches on one side of a unit, with their resolution."""
    return [f"{side} {i} (1/{2**level})" for i, level in enumerate(branches.levels)]


def drawn_unit(spec: ArchSpec) -> tuple[UnitSpec, int | None, str]:
    """The unit to draw for a spec, the kernel its first layer has, and a note for layer-wise specs."""
    kernel = spec.inner_sites[0].kernel if spec.inner_sites else None
    distinct = len(set(spec.units))
    note = f"layer-wise, {distinct} distinct units" if len(spec.units) > 1 else ""
    return spec.units[0], kernel, note


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


def expected_variants(definition: StudyDef) -> list[str]:
    """The named variants that are points of a study's space (the ones ``nas.search`` queues first)."""
    names = named_points(definition)
    found = (names.get(spec.spec_hash) for _, spec in definition.space.uniform_points())
    return list(dict.fromkeys(n for n in found if n is not None))


# ---- trials -> points ----


@dataclass(frozen=True)
class Point:
    """One evaluated architecture: the first COMPLETE trial of its spec."""

    number: int
    psnr: float
    macs: float
    params: float
    ssim: float | None
    preset: str
    spec_hash: str
    spec: str

    @property
    def objectives(self) -> tuple[float, float, float]:
        return (self.psnr, self.macs, self.params)

    @property
    def label(self) -> str:
        return self.preset or self.spec_hash


def point_of(trial: optuna.trial.FrozenTrial) -> Point:
    """A COMPLETE trial's objectives and the attributes the search records."""
    assert trial.values is not None
    attrs = trial.user_attrs
    ssim = attrs.get("ssim")
    psnr, macs, params = (float(v) for v in trial.values[:3])
    return Point(
        trial.number,
        psnr,
        macs,
        params,
        ssim=float(ssim) if ssim is not None else None,
        preset=str(attrs.get("preset", "")),
        spec_hash=str(attrs.get("spec_hash", f"trial-{trial.number}")),
        spec=str(attrs.get("spec", "")),
    )


def evaluated_points(trials: Sequence[optuna.trial.FrozenTrial]) -> list[Point]:
    """One point per architecture, in trial order: the first COMPLETE trial of each spec (repeats are the same)."""
    done = sorted((t for t in trials if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.number)
    firsts: dict[str, Point] = {}
    for trial in done:
        point = point_of(trial)
        firsts.setdefault(point.spec_hash, point)
    return list(firsts.values())


def unevaluated_variants(trials: Sequence[optuna.trial.FrozenTrial], evaluated: set[str]) -> dict[str, str]:
    """Named variants with trials but no result: why (over budget, failed, still running)."""
    out: dict[str, str] = {}
    for t in sorted(trials, key=lambda t: t.number):
        name = t.user_attrs.get("preset")
        if name and name not in evaluated and t.state != optuna.trial.TrialState.COMPLETE:
            out.setdefault(name, t.user_attrs.get("rejected") or t.state.name.lower())
    return out


# ---- figures ----


AXES = {"macs": ("G MACs", 1e9), "params": ("M params", 1e6)}


def pareto_figure(points: Sequence[Point], on_front: Sequence[bool], axis: str) -> go.Figure:
    """PSNR against MACs or params: 3-objective front solid, dominated faded, the 2-D front as a step line."""
    name, unit = AXES[axis]
    xs = [getattr(p, axis) / unit for p in points]
    fig = go.Figure()
    for solid, label in ((True, "on the 3-objective front"), (False, "dominated")):
        chosen = [i for i, f in enumerate(on_front) if f == solid]
        fig.add_trace(point_trace([points[i] for i in chosen], [xs[i] for i in chosen], label, solid))
    fig.add_trace(front_line([(x, p.psnr) for x, p in zip(xs, points, strict=True)]))
    fig.update_layout(
        title=f"PSNR vs {name}: solid = Pareto front on (PSNR max, MACs min, params min), faded = dominated",
        xaxis_title=name,
        yaxis_title="proxy PSNR (dB)",
    )
    return fig


def point_trace(points: Sequence[Point], xs: Sequence[float], label: str, solid: bool) -> go.Scatter:
    """Markers with the named variants labelled and the trial's details on hover."""
    return go.Scatter(
        x=list(xs),
        y=[p.psnr for p in points],
        mode="markers+text",
        name=label,
        text=[p.preset for p in points],
        textposition="top center",
        opacity=SOLID if solid else FADED,
        marker={"size": 11 if solid else 8},
        customdata=[[p.number, p.label, p.macs / 1e9, p.params / 1e6] for p in points],
        hovertemplate="trial %{customdata[0]} %{customdata[1]}<br>PSNR %{y:.3f} dB<br>"
        "%{customdata[2]:.3f} G MACs, %{customdata[3]:.4f} M params<extra></extra>",
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


def hypervolume_figure(points: Sequence[Point], directions: Sequence[str]) -> go.Figure:
    """Hypervolume after each newly evaluated architecture."""
    history = hypervolume_history([p.objectives for p in points], directions)
    fig = go.Figure(go.Scatter(x=[p.number for p in points], y=history, mode="lines+markers", line_shape="hv"))
    fig.update_layout(
        title=(
            "Hypervolume of (PSNR, MACs, params): each objective scaled to [0, 1] between the study's best and worst"
            f"<br>complete values, reference point = worst + {MARGIN:.0%} of the range, shown as a fraction of"
            " that box"
        ),
        xaxis_title="trial number",
        yaxis_title="hypervolume (fraction)",
        yaxis_range=[0, 1.02],
    )
    return fig


def matrix_title(point: Point, note: str) -> str:
    extra = f", {note}" if note else ""
    return f"trial {point.number} {point.label}{extra}"


def matrix_trace(spec: ArchSpec) -> tuple[go.Heatmap, str]:
    """The first unit's transform matrix as a coloured grid of cell texts, and its layer-wise note."""
    unit, kernel, note = drawn_unit(spec)
    by_pair = {(e.dst, e.src): e for e in unit.edges}
    kinds = [
        [cell_kind(by_pair.get((d, s)), unit) for s in range(unit.inputs.count)] for d in range(unit.outputs.count)
    ]
    steps = len(CELL_COLOURS)
    scale = [[(i + k) / steps, c] for i, c in enumerate(CELL_COLOURS) for k in (0, 1)]
    trace = go.Heatmap(
        z=kinds,
        x=branch_labels(unit.inputs, "in"),
        y=branch_labels(unit.outputs, "out"),
        text=matrix_cells(unit, kernel),
        texttemplate="%{text}",
        colorscale=scale,
        zmin=-0.5,
        zmax=steps - 0.5,
        showscale=False,
        xgap=2,
        ygap=2,
        hoverinfo="skip",
    )
    return trace, note


def matrices_figure(points: Sequence[Point]) -> go.Figure:
    """Each front point's transform matrix (rows = output branch, columns = input branch)."""
    specs = [load_spec(p.spec) for p in points]
    traces = [matrix_trace(s) for s in specs]
    cols = max(1, min(MATRIX_COLUMNS, len(points)))
    rows = max(1, math.ceil(len(points) / cols))
    titles = [matrix_title(p, note) for p, (_, note) in zip(points, traces, strict=True)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles or None)
    for i, (trace, _) in enumerate(traces):
        fig.add_trace(trace, row=i // cols + 1, col=i % cols + 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title="Transform matrix of each front point (rows = output branch, columns = input branch; blank = absent;"
        " down: pool then conv, up: conv then upsample unless noted)",
        height=80 + 260 * rows,
    )
    return fig


def table_figure(points: Sequence[Point], lines: Sequence[str]) -> go.Figure:
    """The front as a table, sorted by MACs, with the named-variant sentences as its title."""
    ordered = sorted(points, key=lambda p: p.macs)
    columns = {
        "trial": [p.number for p in ordered],
        "preset": [p.preset for p in ordered],
        "PSNR (dB)": [f"{p.psnr:.3f}" for p in ordered],
        "SSIM": ["" if p.ssim is None else f"{p.ssim:.4f}" for p in ordered],
        "G MACs": [f"{p.macs / 1e9:.3f}" for p in ordered],
        "M params": [f"{p.params / 1e6:.4f}" for p in ordered],
        "spec_hash": [p.spec_hash for p in ordered],
    }
    table = go.Table(header={"values": list(columns)}, cells={"values": list(columns.values())})
    fig = go.Figure(table)
    fig.update_layout(title="<br>".join(["Pareto front", *lines]), height=200 + 30 * len(ordered) + 20 * len(lines))
    return fig


# ---- the report ----


@dataclass(frozen=True)
class Report:
    """What the page and the dashboard show: figures by graph-object id, and plain-text sentences."""

    title: str
    lines: list[str]
    figures: dict[str, go.Figure]


def build_report(study: optuna.Study, definition: StudyDef | None) -> Report:
    """Fronts, hypervolume, matrices and the front table of a study's COMPLETE trials."""
    trials = study.get_trials(deepcopy=False)
    points = evaluated_points(trials)
    if not points:
        raise UsageError(f"--study: {study.study_name!r} has no complete trial yet")
    on_front = pareto_mask([p.objectives for p in points], DIRECTIONS)
    front = [p for p, f in zip(points, on_front, strict=True) if f]
    lines = [
        summary_line(study.study_name, trials, points, front),
        *named_sentences(trials, points, on_front, definition),
    ]
    figures = {
        "msnas-pareto-macs": pareto_figure(points, on_front, "macs"),
        "msnas-pareto-params": pareto_figure(points, on_front, "params"),
        "msnas-hypervolume": hypervolume_figure(points, DIRECTIONS),
        "msnas-front-matrices": matrices_figure(front),
        "msnas-front-table": table_figure(front, lines),
    }
    noisy = noise_aware(noisy_points([(p.number, p.spec_hash, p.preset, p.macs, p.params) for p in points],
                                     seed_results(study)))  # fmt: skip
    if noisy is not None:
        lines += noise_lines(noisy)
        figures["msnas-noise-front"] = noise_figure(noisy)
    return Report(f"msnas report: study {study.study_name}", lines, figures)


def summary_line(
    name: str, trials: Sequence[optuna.trial.FrozenTrial], points: Sequence[Point], front: Sequence[Point]
) -> str:
    """Counts by state, architectures evaluated and front size."""
    states = [t.state.name.lower() for t in trials]
    counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    return (
        f"Study {name}: {len(trials)} trials ({counts}); {len(points)} distinct architectures evaluated "
        f"(repeats and over-budget trials are not shown); {len(front)} on the Pareto front."
    )


def named_sentences(
    trials: Sequence[optuna.trial.FrozenTrial],
    points: Sequence[Point],
    on_front: Sequence[bool],
    definition: StudyDef | None,
) -> list[str]:
    """The sentences on the named variants for this study."""
    named = [(p, f) for p, f in zip(points, on_front, strict=True) if p.preset]
    front = {p.preset: p.number for p, f in named if f}
    dominated = {p.preset: p.number for p, f in named if not f and p.preset not in front}
    unevaluated = unevaluated_variants(trials, {*front, *dominated})
    expected = expected_variants(definition) if definition is not None else None
    return variant_lines(front, dominated, unevaluated, expected)


def write_html(path: Path, report: Report) -> None:
    """One self-contained page (plotly.js inline, so it opens offline), written beside and then renamed."""
    blocks = [
        fig.to_html(full_html=False, include_plotlyjs=i == 0, div_id=graph_id)
        for i, (graph_id, fig) in enumerate(report.figures.items())
    ]
    sentences = "\n".join(paragraph(line) for line in report.lines)
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(report.title)}</title></head>\n'
        f"<body>\n<h1>{html.escape(report.title)}</h1>\n{sentences}\n" + "\n".join(blocks) + "\n</body></html>\n"
    )
    partial = path.with_name(path.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, path)


def paragraph(line: str) -> str:
    """A line as HTML; an indented line (a table row of a text summary) keeps its spacing."""
    if line.startswith(" "):
        return f'<p style="white-space: pre; font-family: monospace; margin: 0">{html.escape(line)}</p>'
    return f"<p>{html.escape(line)}</p>"


def save_to_dashboard(study: optuna.Study, report: Report) -> None:
    """Store the figures in the study under fixed ids, so optuna-dashboard shows them and a rerun replaces them."""
    for graph_id, fig in report.figures.items():
        save_plotly_graph_object(study, fig, graph_object_id=graph_id)


# ---- command line ----


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.report", description="An HTML report of a search's Pareto front.")
    p.add_argument("--study", required=True, help="the study name in the storage")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    p.add_argument("--out", required=True, help="the HTML file to write (its folder must exist)")
    p.add_argument("--no-dashboard", action="store_true", help="do not save the figures into the study")
    return p.parse_args(argv)


def output_path(text: str) -> Path:
    """The output file, whose folder must exist."""
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"--out: {path} is a folder, give a file name")
    if not path.absolute().parent.is_dir():
        raise UsageError(f"--out: folder {path.absolute().parent} does not exist")
    return path


def run(args: argparse.Namespace) -> str:
    out = output_path(args.out)
    study = open_existing_study(args.storage, args.study)
    report = build_report(study, definition_of(study))
    write_html(out, report)
    if not args.no_dashboard:
        save_to_dashboard(study, report)
    return "\n".join([f"wrote {out}", *report.lines])


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.report", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
