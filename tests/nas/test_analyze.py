"""nas.analyze end to end on a real random study of the tiny space, numbers checked against its trials by hand."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from nas.analysis.subspaces import split_records
from nas.analyze import chosen_pairs, main
from nas.cli import UsageError
from nas.errors import InputError
from nas.study import keys
from nas.study.naming import stored_name
from nas.study.records import arch_records
from nas.study.storage import storage_for
from space.features import FEATURE_NAMES, compile_predicate
from studies import STUDIES

NAME = stored_name(STUDIES["tiny"], "random")
FIGURES = ("analyze-edf", "analyze-error-vs-macs")  # no normalised EDF: no MAC bin holds every sub-space
SINGLE = "single=scales == 1"  # a command-line sub-space beside the definition's shared and unshared
FAST = ["--boot", "50", "--perm", "200"]


def load(url: str) -> optuna.Study:
    return optuna.load_study(study_name=NAME, storage=storage_for(url))


def saved_figures(url: str) -> set[str]:
    """The graph-object ids optuna-dashboard would show: its ``dashboard:plot_data:<id>:<chunk>`` study attrs."""
    storage = storage_for(url)
    attrs = storage.get_study_system_attrs(storage.get_study_id_from_name(NAME))
    prefix = "dashboard:plot_data:"
    return {k.removeprefix(prefix).rsplit(":", 1)[0] for k in attrs if k.startswith(prefix)}


def by_hand(url: str) -> tuple[float, dict[str, list[optuna.trial.FrozenTrial]]]:
    """The best PSNR and each sub-space's trials, from the trials' parameters alone (not from features)."""
    trials = load(url).trials
    best = max(t.values[0] for t in trials)
    scales = {t.number: t.params["unit.scales"] for t in trials}
    shared = {t.number: t.params.get("unit.shared", False) for t in trials}
    members = {
        "shared": [t for t in trials if scales[t.number] == 2 and shared[t.number]],
        "unshared": [t for t in trials if scales[t.number] == 2 and not shared[t.number]],
        "single": [t for t in trials if scales[t.number] == 1],
    }
    return best, members


@pytest.fixture(scope="module")
def analysed(tiny_random_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, str]:
    """One run with the definition's sub-spaces and one from the command line, figures saved into the study."""
    out = tmp_path_factory.mktemp("analysis")
    assert saved_figures(tiny_random_url) == set()
    argv = ["--study", NAME, "--storage", tiny_random_url, "--out", str(out), "--subspace", SINGLE, *FAST]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    return tiny_random_url, out, printed.getvalue()


@pytest.fixture(scope="module")
def result(analysed: tuple[str, Path, str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((analysed[1] / "analysis.json").read_text())
    return data


def test_sub_spaces_hold_the_architectures_by_hand(analysed: tuple[str, Path, str], result: dict[str, Any]):
    best, members = by_hand(analysed[0])
    assert result["study"] == NAME and result["sampler"] == "random"
    assert result["best_psnr"] == best
    assert [s["name"] for s in result["subspaces"]] == ["shared", "unshared", "single"]  # definition's, then ours
    for s in result["subspaces"]:
        trials = members[s["name"]]
        assert s["trials"] == [t.number for t in trials]
        assert s["error"] == pytest.approx([best - t.values[0] for t in trials], abs=1e-12)
        assert s["macs"] == [t.user_attrs[keys.MACS_KEY] for t in trials]
    assert [len(members[n]) for n in ("shared", "unshared", "single")] == [2, 2, 1]
    assert min(min(s["error"]) for s in result["subspaces"]) == 0.0


def ks_by_hand(a: list[float], b: list[float]) -> float:
    """The largest gap between two empirical distribution functions, at every observed value."""
    return max(float(abs(np.mean(np.array(a) <= x) - np.mean(np.array(b) <= x))) for x in a + b)


def test_every_pair_is_compared(result: dict[str, Any]):
    errors = {s["name"]: s["error"] for s in result["subspaces"]}
    pairs = [(c["a"], c["b"]) for c in result["comparisons"]]
    assert pairs == [("shared", "unshared"), ("shared", "single"), ("unshared", "single")]
    for c in result["comparisons"]:
        assert c["ks"] == pytest.approx(ks_by_hand(errors[c["a"]], errors[c["b"]]))
        assert 0 < c["p"] <= 1
    # the single-scale network costs twice the MACs of the 2-scale ones: it shares no MAC bin with them
    single = [c for c in result["comparisons"] if "single" in (c["a"], c["b"])]
    assert all(c["ks_normalised"] is None and c["p_normalised"] is None for c in single)
    assert all(s["normalised_weight"] is None for s in result["subspaces"])


def test_summary_and_files(analysed: tuple[str, Path, str], result: dict[str, Any]):
    _, out, printed = analysed
    assert printed.startswith(f"{NAME}: 3 sub-spaces; error = dB below the best ({result['best_psnr']:.3f})")
    assert "warning: sampler" not in printed  # a random study
    # the tiny space's 5 architectures: every sub-space is too small for its statistics to say much
    assert "warning: shared (n = 2), unshared (n = 2), single (n = 1) hold fewer than 5 architectures" in printed
    for s in result["subspaces"]:
        assert f"  {s['name']:<12} {len(s['trials']):>3} " in printed
    assert "shared vs unshared: KS D" in printed and "shared vs single: KS D" in printed
    assert "no MAC bin holds every sub-space" in printed
    assert (out / "summary.txt").read_text() in printed + "\n"
    page = (out / "analysis.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert all(f'id="{figure}"' in page for figure in FIGURES)
    assert 'id="analyze-edf-normalised"' not in page  # the summary says there is none: no copy of the plain EDF


def test_figures_are_saved_into_the_study(analysed: tuple[str, Path, str]):
    assert set(FIGURES) <= saved_figures(analysed[0])


def test_no_dashboard_saves_nothing(tiny_random_db: Path, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    (tmp_path / "study.db").write_bytes(tiny_random_db.read_bytes())
    assert main(["--study", NAME, "--storage", url, "--out", str(tmp_path / "a"), "--no-dashboard", *FAST]) == 0
    assert saved_figures(url) == set()
    assert (tmp_path / "a" / "analysis.html").is_file()


def test_only_definition_sub_spaces_are_normalised_together(
    analysed: tuple[str, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    url = analysed[0]
    argv = ["--study", NAME, "--storage", url, "--out", str(tmp_path), "--no-dashboard", "--compare", "unshared:shared"]
    assert main([*argv, *FAST]) == 0
    data = json.loads((tmp_path / "analysis.json").read_text())
    assert [s["name"] for s in data["subspaces"]] == ["shared", "unshared"]
    assert [(c["a"], c["b"]) for c in data["comparisons"]] == [("unshared", "shared")]
    weights = [np.array(s["normalised_weight"]) for s in data["subspaces"]]
    assert all(w.sum() == pytest.approx(1.0) for w in weights)
    assert data["comparisons"][0]["ks_normalised"] is not None
    assert "no MAC bin holds every sub-space" not in capsys.readouterr().out


def test_a_command_line_sub_space_replaces_the_definitions(analysed: tuple[str, Path, str], tmp_path: Path):
    url = analysed[0]
    argv = ["--study", NAME, "--storage", url, "--out", str(tmp_path), "--no-dashboard", *FAST]
    assert main([*argv, "--subspace", "shared=shared and cross == 'both'", "--only", "shared,unshared"]) == 0
    data = json.loads((tmp_path / "analysis.json").read_text())
    shared = data["subspaces"][0]
    assert shared["predicate"] == "shared and cross == 'both'"
    (only,) = [t for t in load(url).trials if t.user_attrs.get(keys.PRESET) == "ms3"]  # the one shared unit with paths
    assert shared["trials"] == [only.number]


# ---- pure parts ----


def test_chosen_pairs():
    assert chosen_pairs(["a", "b", "c"], []) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert chosen_pairs(["a", "b", "c"], ["c:a", "b:c"]) == [("c", "a"), ("b", "c")]
    for bad in ("a", "a:a", "a:z", "a-b", ":b"):
        with pytest.raises(UsageError, match="--compare"):
            chosen_pairs(["a", "b"], [bad])


def test_split_records(tiny_random_db: Path):
    records = arch_records(load(f"sqlite:///{tiny_random_db}"))
    best = max(r.psnr for r in records)
    predicates = {"all": compile_predicate("scales >= 1"), "two": compile_predicate("scales == 2")}
    (everything, two), empty = split_records(records, predicates, best)
    assert everything.n == 5 and two.n == 4 and empty == []
    assert everything.best().psnr == best and everything.error.min() == 0.0
    assert two.error.tolist() == [best - r.psnr for r in records if r.spec.scales == 2]
    with pytest.raises(InputError, match="selects none of the 5"):
        split_records(records, {"none": compile_predicate("scales == 3")}, best)


def test_the_studys_own_empty_subspaces_are_skipped_and_named(tiny_random_db: Path):
    records = arch_records(load(f"sqlite:///{tiny_random_db}"))
    predicates = {"two": compile_predicate("scales == 2"), "three": compile_predicate("scales == 3")}
    (two,), empty = split_records(records, predicates, 40.0, optional={"three"})
    assert two.n == 4 and empty == ["three"]
    with pytest.raises(InputError, match="no sub-space holds any of the 5"):
        split_records(records, {"three": predicates["three"]}, 40.0, optional={"three"})


# ---- the command line ----


def test_features_are_listed(capsys: pytest.CaptureFixture[str]):
    assert main(["--features"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(FEATURE_NAMES)


def error_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas.analyze: error: ") and err.count("\n") == 1, err
    return err


def test_errors_are_one_line(analysed: tuple[str, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    url = analysed[0]
    base = ["--study", NAME, "--storage", url, "--out", str(tmp_path / "out"), "--no-dashboard", *FAST]
    assert "unknown sub-space(s) nope" in error_of(capsys, [*base, "--only", "shared,nope"])
    assert "selects none" in error_of(capsys, [*base, "--subspace", "three=scales == 3"])
    assert "--compare" in error_of(capsys, [*base, "--compare", "shared:nope"])
    assert "--compare" in error_of(capsys, [*base, "--compare", "shared"])
    assert "no study 'nope'" in error_of(capsys, ["--study", "nope", "--storage", url, "--out", str(tmp_path)])
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    assert "no such SQLite file" in error_of(capsys, ["--study", NAME, "--storage", missing, "--out", str(tmp_path)])
    assert "unknown feature" in error_of(capsys, [*base, "--subspace", "x=colour == 1"])
    assert "required" in error_of(capsys, ["--study", NAME])
    assert not (tmp_path / "out").exists() and not (tmp_path / "missing.db").exists()


def test_a_longer_budget_is_analysed_from_the_fidelity_records(analysed: tuple[str, Path, str], tmp_path: Path):
    from nas.fidelity import main as fidelity_main

    url = analysed[0]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        argv = ["--study", NAME, "--storage", url, "--k", "3", "--budget-x", "2", "--seeds", "1", "--device", "cpu"]
        assert fidelity_main(argv) == 0
    companion = optuna.load_study(study_name=NAME + ".fidelity", storage=storage_for(url))
    long = {
        t.user_attrs[keys.SPEC_HASH]: t.user_attrs[keys.PSNR_KEY]
        for t in companion.trials
        if t.user_attrs[keys.BUDGET_X] == 2
    }
    assert len(long) == 3
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        argv = ["--study", NAME, "--storage", url, "--out", str(tmp_path), "--budget-x", "2", "--no-dashboard", *FAST]
        assert main(argv) == 0
    assert "PSNR at 2x the proxy budget (nas.fidelity re-trainings), mean over seeds" in printed.getvalue()
    data = json.loads((tmp_path / "analysis.json").read_text())
    assert data["budget_x"] == 2 and data["best_psnr"] == max(long.values())
    hashes = {t.number: t.user_attrs[keys.SPEC_HASH] for t in load(url).trials}
    for sub in data["subspaces"]:
        assert all(hashes[n] in long for n in sub["trials"])  # only the re-trained architectures
        assert sub["error"] == pytest.approx([max(long.values()) - long[hashes[n]] for n in sub["trials"]])


def test_a_budget_without_records_is_a_usage_error(analysed: tuple[str, Path, str], tmp_path: Path, capsys):
    argv = ["--study", NAME, "--storage", analysed[0], "--out", str(tmp_path), "--budget-x", "7", "--no-dashboard"]
    assert main(argv) == 2
    assert "re-trained at 7x (run nas.fidelity)" in capsys.readouterr().err


def test_each_architecture_is_paired_with_the_best_image_by_image(analysed: tuple[str, Path, str]):
    """The tiny study validates on 2 images: the paired differences are there, in paired.json and the summary,
    and each equals the difference of the recorded per-image PSNRs."""
    url, out, printed = analysed
    trials = {t.number: t for t in load(url).trials}
    best = max(trials.values(), key=lambda t: t.values[0])
    diffs = json.loads((out / "paired.json").read_text())
    assert len(diffs) == 4 and {d["n_images"] for d in diffs} == {2}
    for d in diffs:
        (mine,) = [
            t for t in trials.values() if d["a"] in (t.user_attrs.get(keys.PRESET), t.user_attrs[keys.SPEC_HASH])
        ]
        images = mine.user_attrs[keys.PER_IMAGE_PSNR]
        by_hand = np.mean([images[k] - best.user_attrs[keys.PER_IMAGE_PSNR][k] for k in images])
        assert d["mean"] == pytest.approx(by_hand) == pytest.approx(mine.values[0] - best.values[0])
        assert d["low"] <= d["mean"] <= d["high"]
    assert "paired per-image differences against " in printed and "(same seed, 2 validation images" in printed
