"""report.html, analysis.html and optuna-dashboard's study page in headless Chromium: no console error, every
figure drawn with data and its title inside it, named variants labelled, and no text drawn over text where a
reader must read every word (the table of every architecture, the matrices' axes)."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

import optuna
import pytest
from playwright.sync_api import Browser

from nas.output.report import TABLE
from nas.study import keys
from nas.study.records import arch_records
from nas.study.storage import storage_for
from tests.browser.conftest import HAND_MADE, NAMED_PSNR, SEARCHED, Searched
from tests.browser.pages import Figure, Loaded, describe, load, overlapping

pytestmark = pytest.mark.slow

PAGE_FIGURES = ".js-plotly-plot"
CARD_FIGURES = '[id^="user-defined-plot:"]'
CARD_PREFIX = "user-defined-plot:"
STRICT = (TABLE, "msnas-front-matrices")  # every word must be readable: no text over text
FRONTS = ("msnas-pareto-macs", "msnas-pareto-params")  # points close together: their labels must not collide


def saved_figures(searched: Searched, name: str) -> set[str]:
    """The graph-object ids saved into a study for optuna-dashboard."""
    storage = storage_for(searched.url)
    attrs = storage.get_study_system_attrs(storage.get_study_id_from_name(name))
    prefix = "dashboard:plot_data:"
    return {k.removeprefix(prefix).rsplit(":", 1)[0] for k in attrs if k.startswith(prefix)}


def evaluated_variants(searched: Searched, name: str) -> set[str]:
    """The named variants with a COMPLETE trial: each must be labelled on the fronts."""
    study = optuna.load_study(study_name=name, storage=storage_for(searched.url))
    trials = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    return {t.user_attrs[keys.PRESET] for t in trials if keys.PRESET in t.user_attrs}


@dataclass
class Shown:
    """One study's page as loaded: which study, and what the browser read back."""

    name: str
    page: Loaded


@pytest.fixture(scope="module", params=[SEARCHED, HAND_MADE])
def report(browser: Browser, searched: Searched, request: pytest.FixtureRequest) -> Shown:
    return Shown(request.param, load(browser, searched.reports[request.param].as_uri(), PAGE_FIGURES, 5))


@pytest.fixture(scope="module")
def analysis(browser: Browser, searched: Searched) -> Loaded:
    return load(browser, searched.analysis.as_uri(), PAGE_FIGURES, 2)


@pytest.fixture(scope="module", params=[SEARCHED, HAND_MADE])
def cards(browser: Browser, searched: Searched, dashboard: str, request: pytest.FixtureRequest) -> Shown:
    """A study's page in optuna-dashboard, its user-defined figures keyed by graph-object id."""
    with urllib.request.urlopen(f"{dashboard}/api/studies", timeout=10) as response:
        summaries = json.loads(response.read())["study_summaries"]
    study_id = next(s["study_id"] for s in summaries if s["study_name"] == request.param)
    expected = len(saved_figures(searched, request.param))
    loaded = load(browser, f"{dashboard}/dashboard/studies/{study_id}", CARD_FIGURES, expected)
    loaded.figures = {k.removeprefix(CARD_PREFIX): v for k, v in loaded.figures.items()}
    return Shown(request.param, loaded)


def assert_drawn_with_data(figures: dict[str, Figure]) -> None:
    for fig in figures.values():
        assert fig.traces, f"{fig.id}: no trace"
        empty = [t["name"] or t["type"] for t in fig.traces if t["points"] == 0]
        assert not empty, f"{fig.id}: traces drawn without a point: {empty}"


def assert_titles_inside(figures: dict[str, Figure]) -> None:
    """A title drawn past its figure's edge is cut off (the svg clips it)."""
    for fig in figures.values():
        titles = fig.of_kind("gtitle", "gtitle-subtitle")
        assert titles, f"{fig.id}: no title drawn"
        cut = [t.text for t in titles if not t.box.inside(fig.box)]
        assert not cut, f"{fig.id}: title cut off at the figure's edge: {cut}"


def assert_no_text_over_text(fig: Figure) -> None:
    assert len(fig.texts) > 10, f"{fig.id}: almost no text drawn (fonts missing?): {fig.texts}"
    pairs = list(overlapping(fig.texts))
    assert not pairs, f"{fig.id}: " + "; ".join(describe(pairs))
    cut = [t.text for t in fig.texts if not t.box.inside(fig.box)]
    assert not cut, f"{fig.id}: text cut off at the figure's edge: {cut}"


def assert_labels_apart(fig: Figure) -> None:
    """Point labels neither overlap each other nor stick out of the figure (the tiny study has close points)."""
    labels = fig.of_kind("textpoint")
    assert len(labels) >= 3, f"{fig.id}: {labels}"
    pairs = list(overlapping(labels))
    assert not pairs, f"{fig.id}: " + "; ".join(describe(pairs))
    assert all(t.box.inside(fig.box) for t in labels), f"{fig.id}: a label outside the figure"


def assert_variants_labelled(fig: Figure, variants: set[str]) -> None:
    labels = {t.text for t in fig.of_kind("textpoint")}
    assert variants and variants <= labels, f"{fig.id}: named variants {sorted(variants - labels)} unlabelled"


# ---- report.html ----


def test_report_has_no_console_error(report: Shown):
    assert report.page.errors == []


def test_report_figures_are_drawn_with_data(report: Shown, searched: Searched):
    assert set(report.page.figures) == {f for f in saved_figures(searched, report.name) if f.startswith("msnas-")}
    assert_drawn_with_data(report.page.figures)
    assert_titles_inside(report.page.figures)


def test_report_says_which_variants_win_in_its_text(report: Shown):
    """The sentences once drawn as the table's five-line title are the page's text."""
    assert "Named variants on the Pareto front: " in report.page.text
    assert "Named variants evaluated but not on the front: " in report.page.text
    assert "f_LH maps X_L to Y_H" in report.page.text  # the matrices' caption: what the short title leaves out


def test_report_labels_the_named_variants(report: Shown, searched: Searched):
    for axis in ("macs", "params"):
        assert_variants_labelled(report.page.figures[f"msnas-pareto-{axis}"], evaluated_variants(searched, report.name))


@pytest.mark.parametrize("figure_id", STRICT)
def test_report_reads_without_overlap(report: Shown, figure_id: str):
    assert_no_text_over_text(report.page.figures[figure_id])


@pytest.mark.parametrize("figure_id", FRONTS)
def test_report_point_labels_stand_apart(report: Shown, figure_id: str):
    assert_labels_apart(report.page.figures[figure_id])


def test_report_opens_with_a_table_of_every_architecture(report: Shown, searched: Searched):
    table = report.page.figures[TABLE]
    (trace,) = table.traces
    cells = {t.text for t in table.of_kind("cell-text")}
    assert "spec_hash" in cells and "standing" in cells
    study = optuna.load_study(study_name=report.name, storage=storage_for(searched.url))
    assert trace["points"] == len(arch_records(study))  # every evaluated architecture, not only the front
    assert len([t for t in table.of_kind("cell-text") if len(t.text) == 16]) == trace["points"]  # every spec_hash


@pytest.mark.parametrize("report", [HAND_MADE], indirect=True)  # the tiny search has 3 named variants, not 7
def test_hand_made_study_draws_every_named_variant(report: Shown):
    """The ms3 study: 7 named variants, the dominated ones' matrices drawn too."""
    assert report.name == HAND_MADE
    titles = {t.text for t in report.page.figures["msnas-front-matrices"].of_kind("annotation-text")}
    named = {title.split()[2] for title in titles if len(title.split()) > 2}
    assert named == set(NAMED_PSNR)


# ---- analysis.html ----


def test_analysis_page(analysis: Loaded):
    assert analysis.errors == []
    assert "hold fewer than 5 architectures" in analysis.text  # the small-sample warning is on the page too
    assert {"analyze-edf", "analyze-error-vs-macs"} <= set(analysis.figures)
    assert_drawn_with_data(analysis.figures)
    assert_titles_inside(analysis.figures)


# ---- verdict.html ----


def test_verdict_page(browser: Browser, searched: Searched):
    verdict = load(browser, searched.verdict.as_uri(), PAGE_FIGURES, 2)
    assert verdict.errors == []
    assert set(verdict.figures) == {"verdict-matrix", "verdict-front"}
    assert_drawn_with_data(verdict.figures)
    assert_titles_inside(verdict.figures)
    assert "ROPE +-0.05 dB" in verdict.text and "the seed noise is not measured" in verdict.text


# ---- optuna-dashboard ----


def test_dashboard_has_no_console_error(cards: Shown):
    assert cards.page.errors == []


def test_dashboard_shows_every_saved_figure_with_data(cards: Shown, searched: Searched):
    assert set(cards.page.figures) == saved_figures(searched, cards.name)
    assert_drawn_with_data(cards.page.figures)
    assert_titles_inside(cards.page.figures)


def test_dashboard_labels_the_named_variants(cards: Shown, searched: Searched):
    assert_variants_labelled(cards.page.figures["msnas-pareto-macs"], evaluated_variants(searched, cards.name))


@pytest.mark.parametrize("figure_id", STRICT)
def test_dashboard_cards_read_without_overlap(cards: Shown, figure_id: str):
    assert_no_text_over_text(cards.page.figures[figure_id])


@pytest.mark.parametrize("figure_id", FRONTS)
def test_dashboard_point_labels_stand_apart(cards: Shown, figure_id: str):
    assert_labels_apart(cards.page.figures[figure_id])
