"""``python -m nas.export``: selection on hand-made studies, one real export checked end to end, error paths."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import optuna
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from optuna.trial import TrialState, create_trial

from backbones import build_model
from nas.analysis.fronts import front
from nas.analysis.selection import select
from nas.export import main, parse_args, selection_of
from nas.output.export import FILES
from nas.study import keys
from nas.study.naming import named_points
from nas.study.records import ArchRecord, arch_records
from nas.study.storage import storage_for
from space import analytic_cost, load_spec
from studies import OBJECTIVES, STUDIES

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

G = 1e9
# number: (psnr, G MACs, params); 4 is dominated by 1, 5 is on the front only for its params.
# Then 6 PRUNED, 7 FAILED (with its reason), and 8 repeating 1.
HAND = {
    0: (30.0, 1.0, 100),
    1: (31.5, 2.0, 200),
    2: (32.0, 4.0, 400),
    3: (31.6, 3.0, 300),
    4: (31.0, 2.5, 250),
    5: (29.0, 5.0, 50),
}
SIZES = [(1, 3, 33, 33), (2, 3, 16, 24), (1, 3, 20, 27), (1, 3, 8, 8)]


def _study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=storage, directions=["maximize", "minimize", "minimize"])
    study.set_metric_names(list(OBJECTIVES))
    return study


def _complete(values: tuple[float, float, float], attrs: dict[str, Any]) -> optuna.trial.FrozenTrial:
    return create_trial(values=list(values), user_attrs=attrs)


def _hand_study(storage: optuna.storages.BaseStorage) -> None:
    study = _study(storage, "hand")
    presets = {0: "ms", 1: "ms3", 2: "standard"}
    # trial 0 gets a real spec but a MAC count that is not its own
    real = next(spec for _, spec in STUDIES["tiny"].space.uniform_points() if spec.scales == 1)
    for number, (psnr, gmacs, params) in HAND.items():
        attrs: dict[str, Any] = {keys.SPEC_HASH: f"hand{number}"}
        attrs.update({keys.PRESET: presets[number]} if number in presets else {})
        if number == 0:
            attrs.update(
                {
                    keys.SPEC: real.canonical_json,
                    keys.SPEC_HASH: real.spec_hash,
                    keys.MACS_KEY: int(gmacs * G),
                    keys.PARAMS_KEY: params,
                }
            )
        study.add_trial(_complete((psnr, gmacs * G, params), attrs))
    study.add_trial(
        create_trial(state=TrialState.PRUNED, user_attrs={keys.PRESET: "ms2", keys.REJECTED: "over budget"})
    )
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={keys.FAIL_REASON: "DivergenceError: loss is nan"}))
    study.add_trial(
        _complete((31.5, 2.0 * G, 200), {keys.PRESET: "ms3", keys.SPEC_HASH: "hand1", keys.DUPLICATE_OF: 1})
    )


def _real_study(storage: optuna.storages.BaseStorage) -> None:
    """The tiny study's named points with the user attrs the search sets (made-up proxy results)."""
    study = _study(storage, "real")
    definition = STUDIES["tiny"]
    names = named_points(definition)
    for i, (_, spec) in enumerate(definition.space.uniform_points()):
        cost, psnr = analytic_cost(spec), 30.0 + i / 10
        attrs = {
            keys.SPEC: spec.canonical_json,
            keys.SPEC_HASH: spec.spec_hash,
            keys.MACS_KEY: cost.macs,
            keys.PARAMS_KEY: cost.params,
            "params_no_bias": cost.params_no_bias,
            keys.PSNR_KEY: psnr,
            keys.SSIM: 0.9,
            keys.PROXY: definition.cpu_proxy.as_dict(),
            "versions": {"torch": torch.__version__},
            **({keys.PRESET: names[spec.spec_hash]} if spec.spec_hash in names else {}),
        }
        study.add_trial(_complete((psnr, cost.macs, cost.params), attrs))


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'studies.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats, metric names
        storage = storage_for(url)
        _hand_study(storage)
        _real_study(storage)
        _study(storage, "empty").add_trial(create_trial(state=TrialState.PRUNED))
    return url


@pytest.fixture(scope="module")
def hand(url: str) -> optuna.Study:
    return optuna.load_study(study_name="hand", storage=url)


@pytest.fixture(scope="module")
def trials(hand: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return hand.get_trials()


@pytest.fixture(scope="module")
def records(hand: optuna.Study) -> list[ArchRecord]:
    return arch_records(hand)


@pytest.fixture(scope="module")
def exported(url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, optuna.trial.FrozenTrial]:
    out = tmp_path_factory.mktemp("out") / "ms3"
    assert main(["--study", "real", "--storage", url, "--preset", "ms3", "--out", str(out)]) == 0
    trial = next(
        t for t in optuna.load_study(study_name="real", storage=url).trials if t.user_attrs.get(keys.PRESET) == "ms3"
    )
    return out, trial


# --- selection ---------------------------------------------------------------------------------


def test_front_is_the_non_dominated_architectures_each_once(records):
    # trial 8 repeats trial 1: the same architecture, so it is not a second point of the front
    assert sorted(r.number for r in front(records)) == [0, 1, 2, 3, 5]


def test_knee_by_hand(trials, records):
    # Over the front, MACs 1..5 G -> x = (m - 1) / 4 and PSNR 29..32 dB -> y = (p - 29) / 3.  The line joins
    # the cheapest (trial 0: x 0, y 1/3) and the best (trial 2: x 3/4, y 1); its direction is (3/4, 2/3).
    # Signed distance times the line's length, 3/4 (y - 1/3) - 2/3 x:
    #   trial 1 (x 1/4, y 5/6): 3/8 - 1/6 = 0.208;  trial 3 (x 1/2, y 13/15): 2/5 - 1/3 = 0.067;
    #   trial 5 (x 1, y 0): < 0;  trials 0 and 2: 0.  Trial 8 repeats trial 1 and is no candidate.
    assert select(trials, records, "knee", True).number == 1


@pytest.mark.parametrize(
    ("mode", "argument", "number"),
    [
        ("trial", 3, 3),
        ("preset", "ms3", 1),  # not its repeat, trial 8
        ("preset", "standard", 2),
        ("trial", 8, 8),  # a repeat is COMPLETE and holds the same spec
        ("max_macs", 2.5, 1),  # 1, 4 and 8 fit; 8 repeats 1
        ("max_macs", 3.0, 3),
        ("max_macs", 100.0, 2),
    ],
)
def test_selectors(trials, records, mode, argument, number):
    assert select(trials, records, mode, argument).number == number


@pytest.mark.parametrize(
    ("flags", "mode", "argument"),
    [(["--trial", "4"], "trial", 4), (["--preset", "ms"], "preset", "ms"), (["--knee"], "knee", True),
     (["--max-macs", "1.5"], "max_macs", 1.5)],
)  # fmt: skip
def test_flags_name_the_selector(flags, mode, argument):
    assert selection_of(parse_args(["--study", "s", "--out", "o", *flags])) == (mode, argument)


# --- the export --------------------------------------------------------------------------------


def test_spec_rebuilds_the_searched_network(exported):
    out, trial = exported
    spec = load_spec(out / "spec.json")
    assert spec.canonical_json == trial.user_attrs[keys.SPEC] and spec.spec_hash == trial.user_attrs[keys.SPEC_HASH]
    assert analytic_cost(spec).macs == trial.user_attrs[keys.MACS_KEY]
    assert analytic_cost(spec).params == trial.user_attrs[keys.PARAMS_KEY]
    assert sum(p.numel() for p in build_model(spec).parameters()) == trial.user_attrs[keys.PARAMS_KEY]


def test_provenance(exported, url):
    out, trial = exported
    info = json.loads((out / "provenance.json").read_text())
    assert (info["study"], info["storage"], info["trial"]) == ("real", url, trial.number)
    assert info["selected_by"] == {"mode": "preset", "argument": "ms3"}
    assert info["values"] == dict(zip(OBJECTIVES, trial.values, strict=True))
    assert info["user_attrs"] == {k: v for k, v in trial.user_attrs.items() if k != "spec"}
    assert info["proxy_budget"] == STUDIES["tiny"].cpu_proxy.as_dict()
    assert "untrained" in info["weights"] and {"torch", "optuna", "onnx"} <= set(info["versions"])
    assert info["git_commit"] is None or len(info["git_commit"]) == 40
    assert info["torchscript"]["max_abs_diff_vs_eager"] <= 1e-5 and info["onnx"]["max_abs_diff_vs_eager"] <= 1e-4


def test_readme_says_how_to_train_and_load(exported):
    out, _ = exported
    text = (out / "README.txt").read_text()
    assert f"python -m nas.train --arch {out}/spec.json --data" in text
    assert f'torch.jit.load("{out}/model.ts")' in text and "NOT trained" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "README.txt",
        "model.onnx",
        "model.ts",
        "provenance.json",
        "spec.json",
    ]


def _eager_with_traced_weights(out: Path) -> tuple[torch.nn.Module, torch.jit.ScriptModule]:
    traced = torch.jit.load(str(out / "model.ts"))
    model = build_model(load_spec(out / "spec.json")).eval()
    model.load_state_dict(traced.state_dict())
    return model, traced


@pytest.mark.parametrize("shape", SIZES)
def test_torchscript_equals_eager(exported, shape):
    model, traced = _eager_with_traced_weights(exported[0])
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = model(x), traced(x)
    assert got.shape == (shape[0], 3, shape[2] * 2, shape[3] * 2)
    assert (got - expected).abs().max().item() <= 1e-5


def test_onnx_equals_eager(exported):
    model, _ = _eager_with_traced_weights(exported[0])  # the ONNX file holds the same initial weights
    session = ReferenceEvaluator(str(exported[0] / "model.onnx"))
    for shape in SIZES[1:3]:
        x = torch.rand(shape, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            expected = model(x).numpy()
        got = np.asarray(cast(list[Any], session.run(None, {"lr": x.numpy()}))[0])
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--study", "nope", "--knee"], "--study: no study 'nope'"),
        (["--study", "hand", "--trial", "6"], "trial 6 is PRUNED, not COMPLETE (over budget)"),
        (["--study", "hand", "--trial", "7"], "trial 7 is FAIL, not COMPLETE (DivergenceError: loss is nan)"),
        (["--study", "hand", "--trial", "99"], "no trial 99 (the study has trials 0 to 8)"),
        (["--study", "hand", "--preset", "ms2"], "--preset: no COMPLETE trial of 'ms2'"),
        (["--study", "hand", "--max-macs", "0.5"], "no COMPLETE trial has at most 0.5 G MACs (the fewest is 1 G)"),
        (["--study", "empty", "--knee"], "Pareto front is empty"),
        (["--study", "hand", "--trial", "3"], "trial 3 has no 'spec' user attr"),
        (["--study", "hand", "--trial", "0"], "macs, the search recorded 1000000000 (the space code changed"),
        (["--study", "hand"], "one of the arguments --trial --preset --knee --max-macs is required"),
        (["--study", "hand", "--knee", "--trial", "1"], "not allowed with"),
        (["--study", "real", "--preset", "ms3", "--out", "FILE/sub"], "--out: cannot write to"),
        (["--study", "real", "--knee", "--storage", "sqlite:///MISSING.db"], "--storage: no such SQLite file"),
    ],
)
def test_errors_are_one_line_and_exit_2(url, tmp_path, capsys, argv, message):
    (tmp_path / "FILE").write_text("")
    args = [a.replace("FILE", str(tmp_path / "FILE")).replace("MISSING", str(tmp_path / "missing")) for a in argv]
    args += [] if "--out" in args else ["--out", str(tmp_path / "out")]
    args += [] if "--storage" in args else ["--storage", url]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("nas.export: error: ")
    assert message in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not (tmp_path / "missing.db").exists()


def test_a_failed_check_leaves_the_folder_alone(url, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("nas.output.export.ONNX_TOLERANCE", -1.0)  # no ONNX file can pass
    (tmp_path / "spec.json").write_text("old")
    assert main(["--study", "real", "--storage", url, "--knee", "--out", str(tmp_path), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas.export: error: model.onnx differs from the eager model by") and err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"] and (tmp_path / "spec.json").read_text() == "old"


def test_a_killed_exports_staging_folder_is_removed(url, tmp_path):
    import subprocess

    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = tmp_path / f".export.{finished.pid}.abcd1234"  # what a kill -9 mid-export leaves
    stale.mkdir(parents=True)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["--study", "real", "--storage", url, "--preset", "ms", "--out", str(tmp_path)]) == 0
    assert not stale.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_knee_of_a_front_of_two_points_is_said_to_be_none(url, tmp_path):
    """--knee on a front of one or two points takes the cheapest by convention, and says so (printed and recorded)."""
    real = optuna.load_study(study_name="real", storage=url)
    records = arch_records(real)
    on_front = [r for r in records if r in front(records)]
    small = _study(storage_for(url), "small")
    for r in sorted(on_front, key=lambda r: r.macs)[:2]:
        small.add_trial(_complete(tuple(r.trial.values), dict(r.trial.user_attrs)))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--study", "small", "--storage", url, "--knee", "--out", str(tmp_path / "e")]) == 0
    assert printed.getvalue().startswith("WARNING: the Pareto front has 2 point(s), so it has no knee")
    provenance = json.loads((tmp_path / "e" / "provenance.json").read_text())
    assert "has no knee" in json.dumps(provenance)


def test_a_folder_that_holds_anything_is_refused_and_left_alone(url, tmp_path, capsys):
    """A nas.train run's folder: replacing its spec.json would stop that run from resuming."""
    (tmp_path / "spec.json").write_text("the run's spec")
    (tmp_path / "checkpoint.pt").write_bytes(b"weights")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["--study", "real", "--storage", url, "--preset", "ms3", "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"nas.export: error: --out: {tmp_path} is not empty (checkpoint.pt, spec.json)")
    assert "--overwrite" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_overwrite_replaces_the_five_files_and_keeps_the_rest(url, tmp_path):
    (tmp_path / "spec.json").write_text("old")
    (tmp_path / "notes.txt").write_text("kept")
    argv = ["--study", "real", "--storage", url, "--preset", "ms3", "--out", str(tmp_path), "--overwrite"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    assert (tmp_path / "notes.txt").read_text() == "kept" and (tmp_path / "spec.json").read_text() != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*FILES, "notes.txt"])


def test_a_link_planted_at_an_output_name_is_replaced_not_written_through(url, tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text("untouched")
    out = tmp_path / "out"
    out.mkdir()
    (out / "provenance.json").symlink_to(victim)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["--study", "real", "--storage", url, "--preset", "ms3", "--out", str(out), "--overwrite"]) == 0
    assert victim.read_text() == "untouched" and not (out / "provenance.json").is_symlink()
    assert json.loads((out / "provenance.json").read_text())["study"] == "real"
