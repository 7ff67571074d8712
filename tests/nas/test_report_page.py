"""nas.report's opening table, error bars, noise-scale axes, legible dominated labels and labelled region panels,
on tiny synthetic studies: four architectures of the tiny space, with one seed or two, with per-image PSNRs or not.

The cheapest point (unnamed) and standard (the best PSNR, the costliest) are the front; ms3 costs more than the
cheapest and scores 0.002 dB below it (within the ROPE); ms costs more and scores 1 dB below (dominated).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import optuna
import pytest

from nas.analysis.noise import Z, noise_aware, noisy_points, seed_runs
from nas.analysis.verdict import Margin
from nas.output.page import write_html
from nas.output.report import TABLE, build_report
from nas.output.report_figures import MIN_SPAN_ROPES
from nas.output.report_table import INTERVAL, NAME, NOT_ENOUGH, PSNR, SEEDS, SPEC_HASH, STANDING, TRIAL
from nas.study import keys
from nas.study.records import arch_records
from space import ArchSpec, analytic_cost
from studies import STUDIES
from tests.nas.test_report import tiny_specs

TINY = STUDIES["tiny"]
CHEAPEST = "2-none-0.5-True"
OFFSETS = {CHEAPEST: 0.0, "ms3": -0.002, "ms": -1.0, "standard": 0.5}  # dB against the cheapest
IMAGES = {"a": 30.0, "b": 31.0, "c": 29.0, "d": 32.0}
SEED_SHIFT = {0: 0.0, 1: -0.03}  # a seed moves every architecture alike
WOBBLE = 0.001  # the architecture-by-seed noise, dB


def add_run(study: optuna.Study, name: str, spec: ArchSpec, seed: int, per_image: bool, **attrs: object) -> None:
    """One proxy run as nas.search records it: values, costs, seed, bicubic gain and (optionally) per-image PSNRs."""
    rng = np.random.default_rng(len(study.trials))
    images = {k: v + OFFSETS[name] + SEED_SHIFT[seed] + WOBBLE * rng.standard_normal() for k, v in IMAGES.items()}
    psnr = float(np.mean(list(images.values())))
    cost = analytic_cost(spec)
    user_attrs: dict[str, object] = {
        keys.SPEC: spec.canonical_json,
        keys.SPEC_HASH: spec.spec_hash,
        keys.MACS_KEY: cost.macs,
        keys.PARAMS_KEY: cost.params,
        keys.PSNR_KEY: psnr,
        keys.SEED: seed,
        keys.GAIN: psnr - 28.0,
        **({keys.PER_IMAGE_PSNR: images} if per_image else {}),
        **({keys.PRESET: name} if name != CHEAPEST else {}),
        **attrs,
    }
    study.add_trial(optuna.trial.create_trial(values=[psnr, cost.macs, cost.params], user_attrs=user_attrs))


def synthetic(seeds: int, per_image: bool, **attrs: object) -> optuna.Study:
    """The four architectures, each trained with ``seeds`` seeds, in memory."""
    study = optuna.create_study(directions=[o.direction for o in TINY.objectives])
    specs = tiny_specs()
    for seed in range(seeds):
        for name in OFFSETS:
            add_run(study, name, specs[name], seed, per_image, **attrs)
    return study


def table_of(study: optuna.Study) -> dict[str, list[object]]:
    """The opening table's columns by header."""
    table = build_report(study, TINY).figures[TABLE].data[0]
    return dict(zip(table.header.values, [list(c) for c in table.cells.values], strict=True))


def by_name(table: dict[str, list[object]], column: str) -> dict[str, object]:
    return {str(n) or CHEAPEST: v for n, v in zip(table[NAME], table[column], strict=True)}


# ---- the table ----


def test_table_lists_every_architecture_once_with_its_columns():
    table = table_of(synthetic(2, per_image=True))
    assert list(table) == [TRIAL, NAME, PSNR, INTERVAL, SEEDS, "gain vs bicubic (dB)", "G MACs", "M params",
                           STANDING, SPEC_HASH]  # fmt: skip
    assert table[TRIAL] == [0, 3, 1, 2]  # the front by MACs, then within the margin, then dominated
    assert table[NAME] == ["", "standard", "ms3", "ms"]
    assert len(set(table[SPEC_HASH])) == 4 and table[SEEDS] == [2, 2, 2, 2]


def test_psnr_is_the_seed_mean_with_the_pooled_interval():
    study = synthetic(2, per_image=True)
    front = noise_aware(noisy_points(arch_records(study), *seed_runs(study)), Margin(TINY.rope))
    assert front is not None and np.isfinite(front.seed_sd)
    table = table_of(study)
    means = {p.preset or CHEAPEST: p.mean for p in front.points}
    assert by_name(table, PSNR) == {name: f"{mean:.3f}" for name, mean in means.items()}
    assert set(by_name(table, INTERVAL).values()) == {f"+-{Z * front.seed_sd / np.sqrt(2):.3f}"}


def test_standing_within_the_rope_dominated_beyond_it_and_on_the_front():
    standing = by_name(table_of(synthetic(2, per_image=True)), STANDING)
    assert standing[CHEAPEST] == "on the front" and standing["standard"] == "on the front"
    assert str(standing["ms3"]).startswith(f"within +-{TINY.rope:g} dB of the front: equivalent to ")
    assert str(standing["ms"]).startswith(f"dominated beyond +-{TINY.rope:g} dB by ")
    assert "[+0.9" in str(standing["ms"])  # the rival's lead of 1 dB with its interval


def test_one_seed_gives_no_interval_and_decides_nothing():
    for per_image in (True, False):
        table = table_of(synthetic(1, per_image=per_image))
        assert set(table[INTERVAL]) == {NOT_ENOUGH}
        standing = by_name(table, STANDING)
        assert standing["standard"] == "on the front"
        assert str(standing["ms"]).startswith("open") and "not enough data" in str(standing["ms"])


def test_a_second_seed_of_one_architecture_alone_measures_no_noise():
    """Five runs of four architectures over two seeds leave no residual degree of freedom for the seed noise."""
    study = synthetic(1, per_image=True)
    add_run(study, "ms3", tiny_specs()["ms3"], 1, per_image=True)
    table = table_of(study)
    assert by_name(table, SEEDS)["ms3"] == 2
    assert by_name(table, INTERVAL)["ms3"] == "not enough data: seed noise not measured"
    assert by_name(table, INTERVAL)["ms"] == NOT_ENOUGH


def test_latency_is_a_column_only_where_measured():
    assert "CPU latency (ms)" not in table_of(synthetic(1, per_image=False))
    table = table_of(synthetic(1, per_image=False, **{keys.LATENCY_MS: 1.5}))
    assert set(table["CPU latency (ms)"]) == {"1.5"}


def test_the_dashboard_card_holds_a_few_columns():
    """A half-width optuna-dashboard card reads five columns; the page has them all."""
    card = build_report(synthetic(2, per_image=True), TINY).cards[TABLE].data[0]
    assert list(card.header.values) == [TRIAL, NAME, PSNR, "G MACs", STANDING]
    assert list(card.cells.values[-1]) == ["front", "front", "within the ROPE", "dominated"]


def test_the_page_opens_with_the_table(tmp_path: Path):
    out = tmp_path / "r.html"
    write_html(out, build_report(synthetic(1, per_image=False), TINY))
    page = out.read_text()
    assert page.index(f'id="{TABLE}"') < page.index("<p>Study ") < page.index('id="msnas-pareto-macs"')


# ---- the fronts: error bars and axes on the noise scale ----


def test_error_bars_are_a_runs_seed_noise_where_seeds_exist():
    study = synthetic(2, per_image=True)
    front = noise_aware(noisy_points(arch_records(study), *seed_runs(study)), Margin(TINY.rope))
    assert front is not None
    report = build_report(study, TINY)
    for graph_id in ("msnas-pareto-macs", "msnas-pareto-params"):
        points = [t for t in report.figures[graph_id].data if t.mode == "markers+text"]
        assert sum(len(t.x) for t in points) == 4
        for trace in points:
            assert list(trace.error_y.array) == pytest.approx([Z * front.seed_sd] * len(trace.x))
    noise = report.figures["msnas-noise-front"].data
    bars = {p: b for t in noise for p, b in zip(t.text, t.error_y.array, strict=True)}
    assert bars == pytest.approx({p.preset: front.half_width(i) for i, p in enumerate(front.points)})


def test_one_seed_draws_no_error_bars():
    report = build_report(synthetic(1, per_image=False), TINY)
    assert all(t.error_y.array is None for t in report.figures["msnas-pareto-macs"].data)


@pytest.mark.parametrize("rope", [TINY.rope, 0.2])
def test_a_gap_within_the_rope_is_never_a_cliff(rope: float):
    """Two points 0.002 dB apart: the PSNR axis spans at least MIN_SPAN_ROPES ropes and holds both."""
    study = optuna.create_study(directions=[o.direction for o in TINY.objectives])
    specs = tiny_specs()
    for name in (CHEAPEST, "ms3"):
        add_run(study, name, specs[name], 0, per_image=False, **{keys.region_key("flat"): 30.0 + OFFSETS[name]})
    report = build_report(study, dataclasses.replace(TINY, rope=rope))
    ys = [y for t in report.figures["msnas-pareto-macs"].data for y in t.y]
    for graph_id in ("msnas-pareto-macs", "msnas-pareto-params", "msnas-regions"):
        low, high = report.figures[graph_id].layout.yaxis.range
        assert high - low >= MIN_SPAN_ROPES * rope
        if graph_id != "msnas-regions":
            assert low < min(ys) and max(ys) < high


def test_a_wide_spread_keeps_its_own_span():
    report = build_report(synthetic(1, per_image=False), TINY)
    low, high = report.figures["msnas-pareto-macs"].layout.yaxis.range
    assert 1.5 < high - low < 2.0  # the 1.5 dB between ms and standard, padded


# ---- legibility ----


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        c = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_dominated_labels_are_legible():
    """The marker fades; the label keeps a contrast of at least 4.5 (WCAG AA) against the plot's background."""
    fig = build_report(synthetic(1, per_image=False), TINY).figures["msnas-pareto-macs"]
    dominated = next(t for t in fig.data if t.name == "dominated")
    assert list(dominated.text) == ["ms3", "ms"]
    assert dominated.opacity in (None, 1.0) and dominated.marker.opacity < 1
    assert contrast(dominated.textfont.color, fig.layout.template.layout.plot_bgcolor) >= 4.5


def test_region_panels_label_the_named_points():
    study = synthetic(1, per_image=False, **{keys.region_key("flat"): 30.0, keys.region_key("detail"): 25.0})
    fig = build_report(study, TINY).figures["msnas-regions"]
    panels = [t for t in fig.data if t.mode == "markers+text"]
    assert len(panels) == 2
    for trace in panels:
        assert sorted(trace.text) == ["", "ms", "ms3", "standard"]  # the unnamed point on hover only
        assert "trial 0" in list(trace.hovertext)


# ---- the sections below the table ----


def test_verdict_section_and_warnings_stay_on_the_page():
    """A stored verdict adds its sentences and figures; a front of two points and a proxy below bicubic warn."""
    study = synthetic(1, per_image=False)
    pair = {"budget": 1.0, "a_name": "ms3", "b_name": "ms", "decision": "open", "difference": 0.9, "low": None,
            "high": None}  # fmt: skip
    candidates = [{"name": n, "mean_psnr": {"1": 30.0}, "costs": {"macs": 1e8}, "left": False} for n in ("ms3", "ms")]
    verdict = {"target_budget": 1.0, "pairs": [pair], "candidates": candidates, "groups": {"1": [["ms3"], ["ms"]]},
               "rope_db": TINY.rope, "stopped": "report only", "rule": "tost", "alpha": 0.05, "looks": 1,
               "images": "random", "trainings": {"runs": 2, "at_target_units": 2.0}, "left": {}}  # fmt: skip
    study.set_user_attr(keys.VERDICT, verdict)
    report = build_report(study, TINY)
    assert any(line.startswith("Verdict (report only): ROPE +-0.05 dB") for line in report.lines)
    assert {"verdict-matrix", "verdict-front"} <= set(report.figures)
    assert any(line.startswith("WARNING: the Pareto front has 2 points") for line in report.lines)
    assert next(iter(report.figures)) == TABLE and report.lead == (TABLE,)
