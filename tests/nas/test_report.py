"""nas.report: fronts and hypervolume on hand-made points, matrix text, the HTML page and its errors."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import optuna
import pytest

from nas.analysis.fronts import dominates, hypervolume, hypervolume_history, pareto_mask, scaled_losses
from nas.output.report_matrices import branch_labels, drawn_units, entry_name, matrix_cells, matrix_trace
from nas.output.report_text import variant_lines
from nas.report import main
from nas.study import keys
from nas.study.naming import named_points
from space import ArchSpec, analytic_cost, preset
from studies import STUDIES

MAX_MIN_MIN = ("maximize", "minimize", "minimize")


# ---- fronts ----


def test_dominates_needs_one_strict_improvement():
    assert dominates((31.0, 1, 1), (30.0, 1, 1), MAX_MIN_MIN)
    assert dominates((30.0, 1, 1), (30.0, 2, 1), MAX_MIN_MIN)
    assert not dominates((30.0, 1, 1), (30.0, 1, 1), MAX_MIN_MIN)
    assert not dominates((31.0, 2, 1), (30.0, 1, 1), MAX_MIN_MIN)


def test_pareto_mask_on_hand_made_points():
    points = [
        (30.0, 10, 10),  # dominated by the next point
        (31.0, 10, 10),
        (29.0, 5, 20),  # cheapest in MACs: on the front
        (29.0, 20, 5),  # cheapest in params: on the front
        (31.0, 10, 10),  # equal to a front point: kept too
        (28.0, 20, 20),  # dominated by everything else
    ]
    assert pareto_mask(points, MAX_MIN_MIN) == [False, True, True, True, True, False]


# ---- hypervolume ----


def test_hypervolume_one_point_is_a_box():
    assert hypervolume([(1.0, 1.0, 1.0)], (2.0, 3.0, 4.0)) == pytest.approx(1 * 2 * 3)
    assert hypervolume([(1.0,)], (3.0,)) == pytest.approx(2.0)


def test_hypervolume_two_dimensions():
    # boxes 2x1 and 1x2 overlapping in a unit square: 2 + 2 - 1
    assert hypervolume([(1.0, 2.0), (2.0, 1.0)], (3.0, 3.0)) == pytest.approx(3.0)


def test_hypervolume_three_dimensions_inclusion_exclusion():
    # boxes 2x2x1 and 1x1x2 whose intersection is 1x1x1: 4 + 2 - 1
    assert hypervolume([(1.0, 1.0, 2.0), (2.0, 2.0, 1.0)], (3.0, 3.0, 3.0)) == pytest.approx(5.0)


def test_hypervolume_ignores_dominated_and_outside_points():
    front = [(1.0, 1.0, 2.0), (2.0, 2.0, 1.0)]
    extra = [(2.5, 2.5, 2.5), (0.0, 0.0, 3.0), (4.0, 0.0, 0.0)]  # dominated, on the reference, beyond it
    assert hypervolume(front + extra, (3.0, 3.0, 3.0)) == pytest.approx(5.0)
    assert hypervolume([], (1.0, 1.0)) == 0.0


def test_scaled_losses_map_best_to_zero_and_worst_to_one():
    scaled = scaled_losses([(30.0, 2.0, 5.0), (32.0, 4.0, 5.0)], MAX_MIN_MIN)
    assert scaled == [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)]  # a constant objective scales to 0


def test_hypervolume_history_by_hand():
    points = [(30.0, 2.0, 2.0), (29.0, 3.0, 3.0), (32.0, 1.0, 1.0)]
    # scaled to [0, 1]: (2/3, 1/2, 1/2), (1, 1, 1) dominated, then the ideal point (0, 0, 0); reference 1.1
    box = 1.1**3
    first = (1.1 - 2 / 3) * 0.6 * 0.6 / box
    assert hypervolume_history(points, MAX_MIN_MIN) == pytest.approx([first, first, 1.0])
    assert hypervolume_history([], MAX_MIN_MIN) == []


def test_hypervolume_history_never_decreases():
    points = [(30.0 + math.sin(i), 10.0 + i % 3, 5.0 + math.cos(i)) for i in range(12)]
    history = hypervolume_history(points, MAX_MIN_MIN)
    assert history == sorted(history)
    assert 0 < history[-1] <= 1


# ---- matrix text ----


def test_ms3_matrix_cells():
    ((unit, kernel, note),) = drawn_units(preset("ms3"))
    assert matrix_cells(unit, kernel) == [["3x3 shared", "1x1 nearest"], ["1x1 avgpool", "3x3 shared"]]
    assert note == ""


def test_absent_identity_and_order_cells():
    ((unit, kernel, _),) = drawn_units(preset("ms2-no-lh"))
    assert matrix_cells(unit, kernel) == [["3x3", ""], ["3x3 avgpool", "3x3"]]
    (unit, kernel, note), (up, up_kernel, up_note) = drawn_units(preset("unet"))  # every distinct unit
    assert matrix_cells(unit, kernel) == [["I", ""], ["", "3x3"]]
    assert note == "unit 1/2: 34 layers from body.0.conv1"
    assert matrix_cells(up, up_kernel) == [["1x1", ""], ["", "3x3"]] and up_note == "unit 2/2: 2 layers from up.0"
    ((unit, kernel, _),) = drawn_units(preset("mgconv"))
    assert matrix_cells(unit, kernel)[0][1] == "3x3 nearest (resample first)"
    assert matrix_cells(unit, kernel)[0][2] == ""


def test_branch_labels_show_the_channel_split():
    # OctConv (alpha 0.25) and MS2 (alpha 0.5) have the same matrix; only the split tells them apart
    assert branch_labels(preset("octconv").units[0].inputs, "X") == ["X_H<br>3/4 ch", "X_L<br>1/4 ch"]
    assert branch_labels(preset("ms2").units[0].inputs, "X") == ["X_H<br>1/2 ch", "X_L<br>1/2 ch"]


def test_matrix_entries_carry_the_papers_names():
    """Cells are named f_HH/f_LH/f_HL/f_LL (f_LH maps X_L to Y_H), deeper branches L2, L3."""
    ((unit, kernel, _),) = drawn_units(preset("ms3"))
    assert [list(row) for row in matrix_trace(unit, kernel).text] == [
        ["f_HH<br>3x3 shared", "f_LH<br>1x1 nearest"],
        ["f_HL<br>1x1 avgpool", "f_LL<br>3x3 shared"],
    ]
    three = preset("ms3-3branch").units[0]
    assert branch_labels(three.outputs, "Y")[2].startswith("Y_L2<br>")
    assert entry_name("L2", "H") == "f_L2,H"


# ---- named variants ----


def test_variant_lines_say_on_off_and_absent():
    lines = variant_lines(
        {"ms3": 2}, {"ms": 1}, {"standard": "over budget: 0.49 G MACs > 0.3 G"}, ["standard", "ms", "ms3", "ms2"]
    )
    assert lines == [
        "Named variants on the Pareto front: ms3 (trial 2).",
        "Named variants evaluated but not on the front: ms (trial 1).",
        "Named variants not evaluated: standard (over budget: 0.49 G MACs > 0.3 G).",
        "Named variants of the study's space absent from the study: ms2.",
    ]
    unknown = variant_lines({}, {}, {}, None)
    assert unknown[0] == "Named variants on the Pareto front: none."
    assert "unknown" in unknown[-1]


# ---- the page, on a synthetic study with the attributes nas.search records ----


PRUNED_HASH = "feedfacefeedface"


def tiny_specs() -> dict[str, ArchSpec]:
    """The uniform points of the tiny space by name (preset name, or the choice when unnamed)."""
    definition = STUDIES["tiny"]
    names = named_points(definition)
    out = {}
    for choice, spec in definition.space.uniform_points():
        out[names.get(spec.spec_hash) or "-".join(map(str, choice.values()))] = spec
    return out


def add(study: optuna.Study, spec: ArchSpec, psnr: float | None, **attrs: object) -> None:
    cost = analytic_cost(spec)
    user_attrs = {
        keys.SPEC: spec.canonical_json,
        keys.SPEC_HASH: spec.spec_hash,
        keys.MACS_KEY: cost.macs,
        keys.PARAMS_KEY: cost.params,
    }
    user_attrs.update(attrs)
    if psnr is None:
        trial = optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs=user_attrs)
    else:
        user_attrs.update(psnr=psnr, ssim=0.9)
        trial = optuna.trial.create_trial(values=[psnr, cost.macs, cost.params], user_attrs=user_attrs)
    study.add_trial(trial)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny study: ms3 and an unnamed point on the front, ms dominated, standard over budget, one repeat."""
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'study.db'}"
    study = optuna.create_study(study_name="tiny", storage=url, directions=["maximize", "minimize", "minimize"])
    specs = tiny_specs()
    unnamed = specs["2-none-0.5-True"]  # two scales, no paths, shared weights: fewest params
    add(study, specs["ms3"], 31.0, preset="ms3")
    add(study, specs["ms"], 30.5, preset="ms")  # dominated by the unnamed point (same MACs, more params)
    add(study, specs["standard"], None, preset="standard", rejected="over budget: 0.49 G MACs > 0.3 G")
    add(study, unnamed, 30.8)
    add(study, specs["ms3"], 31.0, preset="ms3", duplicate_of=0)
    study.set_user_attr("pruned_hash", specs["standard"].spec_hash)
    return url


@pytest.fixture(scope="module")
def page(storage: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("out") / "report.html"
    assert main(["--study", "tiny", "--storage", storage, "--out", str(out)]) == 0
    return out.read_text()


def test_page_is_self_contained(page: str):
    assert page.startswith("<!DOCTYPE html>")
    assert len(page) > 1_000_000  # plotly.js inline
    assert '<script src="http' not in page


def test_page_names_the_variants_on_and_off_the_front(page: str):
    assert "Named variants on the Pareto front: ms3 (trial 0)." in page
    assert "Named variants evaluated but not on the front: ms (trial 1)." in page
    assert "Named variants of the study&#x27;s space absent from the study: none." in page
    for figure in ("msnas-pareto-macs", "msnas-pareto-params", "msnas-hypervolume", "msnas-front-matrices"):
        assert f'id="{figure}"' in page
    assert "3x3 shared" in page and "1x1 avgpool" in page


def test_page_shows_no_pruned_or_repeated_trial(page: str, storage: str):
    pruned_hash = optuna.load_study(study_name="tiny", storage=storage).user_attrs["pruned_hash"]
    assert pruned_hash not in page
    assert "trial 2 " not in page and "trial 4 " not in page  # the pruned trial and the repeat
    assert "3 distinct architectures evaluated" in page


# ---- errors: one line, exit code 2 ----


def error_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas.report: error: ") and err.count("\n") == 1, err
    return err


def test_unknown_study(storage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    err = error_of(capsys, ["--study", "nope", "--storage", storage, "--out", str(tmp_path / "r.html")])
    assert "'nope'" in err and "tiny" in err


def test_storage_that_cannot_be_opened(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = str(tmp_path / "r.html")
    assert "no such SQLite file" in error_of(
        capsys, ["--study", "tiny", "--storage", f"sqlite:///{tmp_path}/x.db", "--out", out]
    )
    assert not (tmp_path / "x.db").exists()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    assert "--storage" in error_of(capsys, ["--study", "tiny", "--storage", f"sqlite:///{garbage}", "--out", out])
    assert "--storage" in error_of(capsys, ["--study", "tiny", "--storage", "nosuchdialect://x", "--out", out])


def test_study_without_complete_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    study = optuna.create_study(study_name="tiny", storage=url, directions=["maximize", "minimize", "minimize"])
    add(study, tiny_specs()["standard"], None, rejected="over budget")
    err = error_of(capsys, ["--study", "tiny", "--storage", url, "--out", str(tmp_path / "r.html")])
    assert "no complete trial" in err
    assert not (tmp_path / "r.html").exists()


def test_not_an_msnas_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(study_name="other", storage=url, direction="minimize")
    assert "not an msnas study" in error_of(
        capsys, ["--study", "other", "--storage", url, "--out", str(tmp_path / "r.html")]
    )


def test_missing_output_folder(storage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    err = error_of(capsys, ["--study", "tiny", "--storage", storage, "--out", str(tmp_path / "no" / "r.html")])
    assert "--out" in err and "does not exist" in err
    assert "--out" in error_of(capsys, ["--study", "tiny", "--storage", storage])  # required


def test_hypervolume_axis_counts_whole_trials(storage: str):
    from nas.output.report_figures import hypervolume_figure, pareto_figure
    from nas.study.records import arch_records

    points = arch_records(optuna.load_study(study_name="tiny", storage=storage))
    fig = hypervolume_figure(points)
    assert fig.layout.xaxis.tickformat == "d" and fig.layout.xaxis.dtick == 1  # no 0.5, 1.5 ticks
    one = hypervolume_figure(points[:1])
    assert tuple(one.layout.xaxis.range) == (points[0].number - 0.5, points[0].number + 0.5)  # not -1..1
    assert pareto_figure(points, [True] * len(points), "macs").layout.xaxis.title.text == (
        "G MACs (full network, 128x128 LR)"
    )


def test_every_front_point_is_labelled(storage: str):
    from nas.analysis.fronts import front_mask
    from nas.output.report_figures import pareto_figure
    from nas.study.records import arch_records

    points = arch_records(optuna.load_study(study_name="tiny", storage=storage))
    fig = pareto_figure(points, front_mask(points), "macs")
    solid = next(t for t in fig.data if t.name.startswith("on the"))
    assert sorted(solid.text) == ["ms3", "trial 3"]  # the unnamed front point by its trial, not under "ms"
    faded = next(t for t in fig.data if t.name == "dominated")
    assert list(faded.text) == ["ms"]


def test_learning_curves_are_drawn_from_the_recorded_curves(tmp_path: Path):
    from nas.output.report import build_report
    from nas.output.report_figures import curves_figure
    from nas.study.records import arch_records

    study = optuna.create_study(study_name="c", storage=f"sqlite:///{tmp_path}/c.db",
                                directions=["maximize", "minimize", "minimize"])  # fmt: skip
    specs = tiny_specs()
    add(study, specs["ms3"], 31.0, preset="ms3", val_curve=[[3, 29.0], [6, 30.0], [12, 31.0]])
    add(study, specs["2-none-0.5-True"], 30.8)  # recorded before curves: no line
    fig = curves_figure(arch_records(study))
    assert fig is not None and [t.name for t in fig.data] == ["ms3"]
    assert list(fig.data[0].x) == [3, 6, 12] and list(fig.data[0].y) == [29.0, 30.0, 31.0]
    assert "msnas-learning-curves" in build_report(study, STUDIES["tiny"]).figures
    bare = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    add(bare, specs["ms"], 30.5)
    assert curves_figure(arch_records(bare)) is None


def test_loss_curves_are_recorded_by_the_search_and_drawn(tiny_random_url: str):
    """Each proxy run's loss per tenth is a user attribute (placed at the tenth's last iteration), and a figure."""
    from nas.output.report import FIGURE_ORDER, build_report
    from nas.output.report_figures import curves_figure
    from nas.study import keys
    from nas.study.records import arch_records

    study = optuna.load_study(study_name="tiny-random", storage=tiny_random_url)
    iterations = STUDIES["tiny"].cpu_proxy.iterations
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        points = t.user_attrs[keys.LOSS_CURVE]
        assert [p[0] for p in points] == [round(iterations * k / 10) for k in range(1, 11)]
        assert all(p[1] > 0 for p in points)
    fig = curves_figure(arch_records(study), keys.LOSS_CURVE)
    assert fig is not None and len(fig.data) == len(arch_records(study)) and fig.layout.yaxis.type == "log"
    figures = list(build_report(study, STUDIES["tiny"]).figures)
    assert "msnas-loss-curves" in figures
    assert figures == [g for g in FIGURE_ORDER if g in figures]  # the order nas.dashboard keeps


def test_matrices_include_the_dominated_named_variants(storage: str):
    """The front's matrices and those of named variants off it, marked; an unnamed dominated point is not drawn."""
    from nas.output.report import build_report

    study = optuna.load_study(study_name="tiny", storage=storage)
    titles = [a.text for a in build_report(study, STUDIES["tiny"]).figures["msnas-front-matrices"].layout.annotations]
    assert titles == ["trial 0 ms3", "trial 1 ms (dominated)", "trial 3"]


def test_figures_are_titled_for_a_dashboard_card(storage: str):
    """Short titles (a half-width card shows about 45 characters); the explanation is the page's caption."""
    from nas.output.report import TABLE, build_report

    report = build_report(optuna.load_study(study_name="tiny", storage=storage), STUDIES["tiny"])
    for graph_id, fig in report.figures.items():
        title, subtitle = fig.layout.title.text, fig.layout.title.subtitle.text or ""
        assert len(title) <= 30 and len(subtitle) <= 45 and "<br>" not in title + subtitle, (graph_id, title)
        assert report.captions[graph_id], graph_id
    assert "Named variants" not in report.figures[TABLE].layout.title.text  # the sentences are text


def test_report_ends_by_saying_where_it_is_and_how_to_open_the_dashboard(
    storage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "r.html"
    assert main(["--study", "tiny", "--storage", storage, "--out", str(out)]) == 0
    last = capsys.readouterr().out.splitlines()[-4:]
    assert last[0] == f"wrote {out}: open {out.as_uri()} in a browser (it works offline)"
    db = storage.removeprefix("sqlite:///")
    assert last[2].endswith(f" -m nas.dashboard --storage {storage} --artifacts {db}.artifacts")
    assert Path(last[2].split()[0]).absolute() == Path(sys.executable).absolute()  # this Python, relative if it can
    assert "http://127.0.0.1:8080" in last[3]
    assert main(["--study", "tiny", "--storage", storage, "--out", str(out), "--no-dashboard"]) == 0
    assert "optuna-dashboard" not in capsys.readouterr().out


def test_labels_of_close_points_are_placed_apart():
    """Two points at one MAC count 0.02 dB apart (ms3 and a sampled point) get different label positions; a point
    far from the others keeps the default above it; an unlabelled point is never moved."""
    from nas.output.report_labels import label_positions

    places = label_positions([(0.226, 32.972), (0.226, 32.991), (0.49, 31.8), (0.3, 32.0)], ["ms3", "trial 7", "x", ""])
    assert places[0] != places[1]
    assert places[2] == "top center" and places[3] == "top center"


def test_one_architecture_is_counted_in_the_singular():
    """Not "1 distinct architectures": the counts of the summary agree with their number."""
    from nas.output.report import build_report

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    add(study, tiny_specs()["ms3"], 31.0, preset="ms3")
    summary = build_report(study, STUDIES["tiny"]).lines[0]
    assert "1 trial (1 complete); 1 distinct architecture evaluated" in summary and "1 on the Pareto front" in summary


def test_a_front_of_two_points_is_flagged_on_the_page(page: str):
    assert "WARNING: the Pareto front has 2 points, so it has no knee" in page  # ms3 and trial 3


def test_a_front_of_three_points_is_not_flagged():
    from nas.output.report import build_report

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    specs = tiny_specs()
    add(study, specs["ms3"], 31.0, preset="ms3")
    add(study, specs["2-none-0.5-True"], 30.8)
    add(study, specs["standard"], 32.0, preset="standard")
    lines = build_report(study, STUDIES["tiny"]).lines
    assert "3 on the Pareto front" in lines[0] and not any("has no knee" in line for line in lines)
