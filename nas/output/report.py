"""A search's report: one table of every architecture, then the fronts, hypervolume, matrices and curves.

Only COMPLETE trials are points: an over-budget trial is PRUNED before training and appears
nowhere; a repeated architecture counts once (``nas.study.records``).  Objectives are the
study's, by name: a latency study's fourth objective is on its front, table and hypervolume.
The proxy's noise is read once (``nas.analysis.noise``, within the study's ROPE) and drawn
everywhere: the table's intervals and standings, the fronts' error bars and y spans.

The parts live beside it: ``report_table`` (the table), ``report_figures`` (fronts and curves),
``report_matrices`` (transform matrices), ``report_labels`` (label placement) and
``report_text`` (the sentences).
"""

from __future__ import annotations

import optuna
import plotly.graph_objects as go

from nas.analysis.fronts import MARGIN, front_mask
from nas.analysis.noise import NoiseFront, noise_aware, noise_lines, noisy_points, seed_runs
from nas.analysis.verdict import Margin
from nas.errors import InputError
from nas.output import verdict_page
from nas.output.page import Report
from nas.output.report_figures import (
    MIN_SPAN_ROPES,
    Noise,
    curves_figure,
    hypervolume_figure,
    noise_figure,
    pareto_figure,
    regions_figure,
)
from nas.output.report_matrices import CARD_MATRICES, drawn_points, matrices_figure
from nas.output.report_table import table_figure, table_rows
from nas.output.report_text import bicubic_warning, named_sentences, small_front_warning, summary_line
from nas.study import keys
from nas.study.records import ArchRecord, arch_records
from studies import DEFAULT_ROPE, StudyDef

TABLE = "msnas-table"


def build_report(study: optuna.Study, definition: StudyDef | None) -> Report:
    """The table of every architecture, fronts, hypervolume, matrices and curves of a study's COMPLETE trials."""
    trials = study.get_trials(deepcopy=False)
    points = arch_records(study)
    if not points:
        raise InputError(f"--study: {study.study_name!r} has no complete trial yet")
    on_front = front_mask(points)
    front = [p for p, f in zip(points, on_front, strict=True) if f]
    rope = definition.rope if definition is not None else DEFAULT_ROPE
    noisy = noise_aware(noisy_points(points, *seed_runs(study)), Margin(rope))
    lines = [
        summary_line(study.study_name, trials, points, front),
        *named_sentences(trials, points, on_front, definition),
        *bicubic_warning(points),
        *small_front_warning(front),
        *(noise_lines(noisy) if noisy is not None else []),
    ]
    rows = table_rows(points, on_front, noisy)
    figures = {TABLE: table_figure(rows)} | study_figures(points, on_front, noisy, rope)
    verdict = study.user_attrs.get(keys.VERDICT)
    if isinstance(verdict, dict):  # nas.verdict's decisions: its section of the page
        lines += verdict_page.summary_lines(verdict)
        figures |= verdict_page.verdict_figures(verdict)
    cards = {
        TABLE: table_figure(rows, card=True),
        "msnas-front-matrices": matrices_figure(*drawn_points(points, on_front), most=CARD_MATRICES),
    }
    captions = CAPTIONS | verdict_page.CAPTIONS
    return Report(f"msnas report: study {study.study_name}", lines, figures, captions, cards, lead=(TABLE,))


def study_figures(
    points: list[ArchRecord], on_front: list[bool], noisy: NoiseFront | None, rope: float
) -> dict[str, go.Figure]:
    """The figures below the table, by graph-object id; those without data (curves, regions, noise) left out."""
    noise = Noise.of(noisy, rope)
    figures = {
        "msnas-pareto-macs": pareto_figure(points, on_front, "macs", noise),
        "msnas-pareto-params": pareto_figure(points, on_front, "params", noise),
        "msnas-hypervolume": hypervolume_figure(points),
        "msnas-front-matrices": matrices_figure(*drawn_points(points, on_front)),
        "msnas-learning-curves": curves_figure(points, keys.VAL_CURVE),
        "msnas-loss-curves": curves_figure(points, keys.LOSS_CURVE),
        "msnas-regions": regions_figure(points, rope),
        "msnas-noise-front": noise_figure(noisy) if noisy is not None else None,
    }
    return {graph_id: fig for graph_id, fig in figures.items() if fig is not None}


FIGURE_ORDER = (  # the page's order, which optuna-dashboard keeps through nas.dashboard
    TABLE,
    "msnas-pareto-macs",
    "msnas-pareto-params",
    "msnas-hypervolume",
    "msnas-front-matrices",
    "msnas-learning-curves",
    "msnas-loss-curves",
    "msnas-regions",
    "msnas-noise-front",
    *verdict_page.FIGURE_ORDER,
)

CAPTIONS = {  # what a figure's short title leaves out, said once on the page
    TABLE: "Every evaluated architecture once: PSNR is the proxy's, the mean over its seeds, with a 95 % interval "
    "from the seed noise pooled over every architecture ('not enough data' with one seed everywhere); gain is the "
    "PSNR over bicubic upsampling. Standing within the study's ROPE: on the front (PSNR, MACs, params); dominated "
    "only when a rival that costs no more is better by more than the ROPE; within the ROPE of the front when "
    "decided practically equivalent; else open, with the rival's lead and its interval or what is missing.",
    "msnas-pareto-macs": "Proxy PSNR against the full network's MACs (paper convention, 128x128 LR input). Solid "
    "points lie on the Pareto front on all of the study's objectives, faded ones are dominated; the dotted "
    "staircase is the 2-D front of this plane. Named variants are labelled, unnamed front points by their trial. "
    "Where seeds were repeated, each bar is one run's 95 % interval from the pooled seed noise; the PSNR axis "
    f"spans at least {MIN_SPAN_ROPES:g} times the study's ROPE, so a gap within the ROPE is drawn small.",
    "msnas-pareto-params": "The same points against parameters.",
    "msnas-regions": "Validation PSNR over the pixels of one region class (nas.sr.region_scores: flat, edge, or "
    "detail, dense high-frequency structure; classed from the HR images alone) against the full network's MACs, with "
    "each class's own 2-D front, named variants labelled. A region's PSNR pools its pixels over the validation images.",
    "msnas-hypervolume": "Hypervolume after each newly evaluated architecture: each objective scaled to [0, 1] "
    f"between the study's best and worst complete values, reference point = worst + {MARGIN:.0%} of the range, "
    "shown as a fraction of that box.",
    "msnas-front-matrices": "Eqn-1 transform matrix of each front point and each dominated named variant: rows are "
    "output branches (Y), columns input branches (X); H is full resolution, L half (L2 a quarter); each axis label "
    "gives the branch's share of the channels. f_LH maps X_L to Y_H. Blank: absent; I: identity; going down pools "
    "then convolves and going up convolves then upsamples unless noted.",
    "msnas-learning-curves": "Validation PSNR during each proxy run; named variants solid, the others faded.",
    "msnas-loss-curves": "Mean training L1 loss over each tenth of each proxy run (log scale); named variants solid.",
    "msnas-noise-front": "PSNR with its 95 % interval, coloured by whether a point is on the front once noise counts.",
}
