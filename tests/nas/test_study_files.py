"""Study files: every built-in study round-trips through TOML, bad files are one line, and a study made from a
file is reported, analysed and exported from the storage alone once the file is gone."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import optuna
import pytest
from optuna.samplers import NSGAIISampler

from nas.analyze import main as analyze_main
from nas.export import main as export_main
from nas.report import main as report_main
from nas.search.__main__ import main as search_main
from nas.study import keys
from nas.study.naming import definition_of
from nas.study.storage import storage_for
from space import preset
from studies import STUDIES
from studies.files import dumps, loads


def run(main, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_built_in_study_dumps_and_reloads_to_itself(name: str, tmp_path: Path):
    code, text, _ = run(search_main, ["--study", name, "--dump-study"])
    assert code == 0 and loads(text) == STUDIES[name]
    (tmp_path / "s.toml").write_text(text)
    code, again, _ = run(search_main, ["--study-file", str(tmp_path / "s.toml"), "--dump-study"])
    assert code == 0 and again == text


TINY = dumps(STUDIES["tiny"])
BAD = [
    ("name = [", "not TOML"),
    ('nme = "x"', "nme: no such field (allowed: name, description"),
    (TINY.replace('name = "tiny"', 'name = "a b"'), "name: 'a b' must be letters"),
    (TINY.replace("n_trials = 4", "n_trials = 0"), "n_trials: 0 (allowed: 1..1000000)"),
    (TINY.replace('sampler = "nsga2"', 'sampler = "grid"'), "sampler: 'grid' (allowed: nsga2, tpe, random)"),
    (TINY.replace('paths = ["none", "both"]', 'paths = ["diagonal"]'), "space.unit.paths: ('diagonal',) (allowed"),
    (TINY.replace("iterations = 12", 'iterations = "many"'), "cpu_proxy.iterations: 'many' must be an integer"),
    (TINY.replace("iterations = 12", "iterations = 0", 1), "cpu_proxy.iterations: 0 (allowed: 1..1000000)"),
    (TINY.replace('blocks = "spec"', 'blocks = "all"', 1), "cpu_proxy.blocks: 'all' must be int or 'spec'"),
    (TINY.replace("latency = false", 'latency = "no"'), "latency: 'no' must be true or false"),
    (TINY.replace('shared = "shared"', 'x = "__import__"'), "subspaces.x: "),
    (TINY.replace("[space.unit]", "[space.unit]\nfoo = 1"), "space.unit.foo: no such field"),
    (TINY.replace("rope = 0.05", "rope = 0"), "rope: 0.0 must be a positive number of dB"),
    (TINY + f"\n[named]\nbig = {json.dumps(preset('ms3').canonical_json)}\n", "named.big: upscales x4, the study's"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_study_file_is_one_line_exit_2(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = run(search_main, ["--study-file", str(path), "--storage", f"sqlite:///{tmp_path}/s.db"])
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"nas.search: error: --study-file: {path}: ") and message in err, err
    assert not (tmp_path / "s.db").exists()


@pytest.mark.slow
def test_a_study_from_a_file_works_from_the_storage_alone(tmp_path: Path):
    own = TINY.replace('name = "tiny"', 'name = "mine"').replace('description = "', 'description = "my own: ')
    path = tmp_path / "mine.toml"
    path.write_text(own)
    url = f"sqlite:///{tmp_path}/s.db"
    code, out, err = run(search_main, ["--list", "--study-file", str(path)])
    assert code == 0 and any(line.startswith("mine ") and " my own: " in line for line in out.splitlines())
    argv = ["--study-file", str(path), "--storage", url, "--n-trials", "3", "--sampler", "random"]
    code, out, err = run(search_main, argv)
    assert code == 0, err
    path.unlink()  # everything below reads the definition stored with the study
    code, _, err = run(report_main, ["--study", "mine-random", "--storage", url, "--out", str(tmp_path / "r.html")])
    assert code == 0, err
    stored = optuna.load_study(study_name="mine-random", storage=storage_for(url))
    assert definition_of(stored) == loads(own)  # what report, analyze, export and fidelity read
    code, _, err = run(analyze_main, ["--study", "mine-random", "--storage", url, "--out", str(tmp_path / "a")])
    assert code == 0, err
    code, _, err = run(
        export_main, ["--study", "mine-random", "--storage", url, "--knee", "--out", str(tmp_path / "e")]
    )
    assert code == 0, err
    # a worker with another version of the file is refused, and the study is left as it was
    path.write_text(own.replace("iterations = 12", "iterations = 24", 1))
    code, _, err = run(
        search_main, ["--study-file", str(path), "--storage", url, "--n-trials", "1", "--sampler", "random"]
    )
    assert code == 2 and "made from another definition of 'mine' (cpu_proxy.iterations stored 12, here 24)" in err


@pytest.mark.slow
def test_a_named_point_of_ones_own_is_queued_and_labelled(tmp_path: Path):
    from space import preset

    tiny = STUDIES["tiny"]
    named = {name for name in ("ms", "ms3", "standard")}
    spec = next(s for _, s in tiny.space.uniform_points() if s.spec_hash not in named_hashes(tiny))
    (tmp_path / "mine.json").write_text(spec.to_json())
    sp = tiny.space
    far = preset("ms2", sp.backbone, sp.upscale, sp.depth, sp.width)  # unshared 3x3 weights: not a point of tiny
    assert far.spec_hash not in {s.spec_hash for _, s in sp.uniform_points()}
    (tmp_path / "far.json").write_text(far.to_json())
    url = f"sqlite:///{tmp_path}/s.db"
    argv = ["--study", "tiny", "--storage", url, "--n-trials", "6", "--named", f"mine={tmp_path / 'mine.json'}",
            "--named", f"far={tmp_path / 'far.json'}", "--artifacts", str(tmp_path / "a")]  # fmt: skip
    code, _, err = run(search_main, argv)
    assert code == 0, err
    assert "named point(s) outside the study's space, evaluated as extra points: far" in err
    study = optuna.load_study(study_name="tiny", storage=storage_for(url))
    mine = [t for t in study.trials if t.user_attrs.get(keys.PRESET) == "mine" and t.user_attrs.get(keys.QUEUED)]
    assert len(mine) == 1 and mine[0].user_attrs[keys.SPEC_HASH] == spec.spec_hash
    assert named <= {t.user_attrs.get(keys.PRESET) for t in study.trials}
    (extra,) = [t for t in study.trials if t.user_attrs.get(keys.PRESET) == "far"]
    assert extra.state == optuna.trial.TrialState.COMPLETE and extra.params == {}
    assert extra.user_attrs[keys.SPEC_HASH] == far.spec_hash and extra.values is not None
    generation = NSGAIISampler._get_generation_key()
    drawn = [t for t in study.trials if not t.user_attrs.get(keys.QUEUED)]  # not queued: drawn by NSGA-II
    assert drawn and all(generation in t.system_attrs for t in drawn)  # NSGA-II kept its generations
    assert generation not in extra.system_attrs  # and never made the extra point one of its parents
    code, printed, err = run(report_main, ["--study", "tiny", "--storage", url, "--out", str(tmp_path / "r.html")])
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    for name in ("mine", "far"):
        assert f"{name} (trial" in printed or f'"{name}"' in page, name
    # the named point is part of the stored definition: a run without --named is another definition
    code, _, err = run(search_main, ["--study", "tiny", "--storage", url, "--n-trials", "1"])
    assert code == 2 and "(named.far stored '" in err and "..., here None)" in err


def named_hashes(study) -> set[str]:
    from nas.study.naming import named_points

    return set(named_points(study))
