"""Every command line against a table of bad input: one line naming the problem, exit code 2, nothing made.

Placeholders: ``{d}`` a folder of prepared bad inputs (an empty folder, an undecodable .png, an 8x8 image, a
file where a folder belongs, a spec of an unknown backbone, random bytes as weights), ``{url}`` a copy of the
tiny random study, ``{spec}`` the ms3 preset's spec.  Training commands carry ``--iters 3``, so that a check
that regressed costs seconds, not a day.  BENCHMARKS.md (RELIABILITY) counts the rows per command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from nas.analyze import main as analyze_main
from nas.cost import main as cost_main
from nas.dashboard import main as dashboard_main
from nas.evaluate import main as evaluate_main
from nas.export import main as export_main
from nas.fidelity import main as fidelity_main
from nas.regions import main as regions_main
from nas.report import main as report_main
from nas.search.__main__ import main as search_main
from nas.study.companion import open_companion
from nas.study.storage import storage_for
from nas.train import main as train_main
from space import preset

Main = Callable[[Sequence[str] | None], int]
MAINS: dict[str, Main] = {
    "nas.cost": cost_main,
    "nas.train": train_main,
    "nas.evaluate": evaluate_main,
    "nas.search": search_main,
    "nas.report": report_main,
    "nas.analyze": analyze_main,
    "nas.export": export_main,
    "nas.fidelity": fidelity_main,
    "nas.regions": regions_main,
    "nas.dashboard": dashboard_main,
}
T = "--iters 3 --out {d}/run"  # a training command's tail
S = "--storage sqlite:///{d}/new.db"  # a search on a storage that must not be created
M = "--model a={d}/ms3.json:{d}/garbage.pt"  # a model whose weights are never reached when the check works
R = "--data {d}/ok --scale 4 --out {d}/r"

CASES: list[tuple[str, str, str]] = [
    ("nas.cost", "--preset nope", "preset: 'nope' (allowed: standard"),
    ("nas.cost", "--spec {d}/missing.json", "spec: no such file"),
    ("nas.cost", "--spec {d}/unknown.json", "units: give exactly one of units or unit"),
    ("nas.cost", "--lr-size 0", "lr_size: 0x0 is not a multiple"),
    ("nas.cost", "--lr-size abc", "argument --lr-size: invalid int value"),
    ("nas.cost", "--lr-size 100000 --preset ms3", "a side is larger than 4096"),
    ("nas.train", "--arch {d}/missing.json " + T, "spec: no such file"),
    ("nas.train", "--arch {spec} --data {d}/empty " + T, "no images (looked for"),
    ("nas.train", "--arch {spec} --data {d}/garbage " + T, "garbage/a.png: cannot read image"),
    ("nas.train", "--arch {spec} --data {d}/small --no-subimages " + T, "small/a.png: 8x8 is smaller than the 128x128"),
    ("nas.train", "--arch {spec} --iters 0 --out {d}/run", "--iters: must be positive, got 0"),
    ("nas.train", "--arch {spec} --batch -1 " + T, "--batch: must be positive, got -1"),
    ("nas.train", "--arch {spec} --hr-patch 7 " + T, "--hr-patch: 7 is not a multiple of the upscale 4"),
    ("nas.train", "--arch {spec} --lr nan " + T, "--lr: nan is not a positive number"),
    ("nas.train", "--arch {spec} --iters 3 --out {d}/afile", "--out: {d}/afile is a file, not a folder"),
    ("nas.train", "--arch {spec} --resume " + T, "--resume: no checkpoint.pt in {d}/run"),
    ("nas.train", "--arch {spec} --device tpu " + T, "device: 'tpu' (allowed: cpu, cuda)"),
    ("nas.train", "--arch {spec} --val-every 0 " + T, "--val-every: must be positive, got 0"),
    ("nas.train", "--arch {spec} --val-data {d}/garbage " + T, "garbage/a.png: cannot read image"),
    ("nas.train", "--arch {spec} --bench-data {d}/small " + T, "a.png: too small for x4"),
    ("nas.train", "--arch {spec} --lr-data {d}/ok " + T, "--lr-data: needs --data"),
    ("nas.train", "--arch {spec} --data {d}/ok --cache {d}/afile " + T, "--cache: {d}/afile is a file"),
    ("nas.train", "--arch {spec} --batch 100000 " + T, "--batch/--hr-patch"),
    ("nas.evaluate", "--data {d}/missing --bicubic --scale 4", "{d}/missing: no such folder"),
    ("nas.evaluate", "--data {d}/ok --scale 5 --bicubic", "argument --scale: invalid choice: 5"),
    ("nas.evaluate", "--data {d}/ok --scale 4", "one of the arguments --bicubic --arch is required"),
    ("nas.evaluate", "--data {d}/ok --scale 4 --arch {spec} --weights {d}/garbage.pt", "garbage.pt"),
    ("nas.evaluate", "--data {d}/garbage --scale 4 --bicubic", "garbage/a.png: cannot read image"),
    ("nas.evaluate", "--data {d}/small --scale 4 --bicubic", "a.png: too small for x4"),
    ("nas.search", "--study nope " + S, "--study: 'nope' (allowed: ms3"),
    ("nas.search", "--study tiny --n-trials 0 " + S, "--n-trials: must be positive, got 0"),
    ("nas.search", "--study tiny --storage mysql://u:pw@localhost/x", "--storage: cannot open mysql://u:***@"),
    ("nas.search", "--study tiny --storage sqlite:///:memory:", "keeps nothing after this process ends"),
    ("nas.search", "--study tiny --storage sqlite:///{d}/afile/x.db", "--storage: cannot make the folder {d}/afile"),
    ("nas.search", "--study tiny --data {d}/garbage " + S, "garbage/a.png: cannot read image"),
    ("nas.search", "--study tiny --data {d}/small " + S, "small/a.png: 8x8 is smaller than the 24x24 HR patch"),
    ("nas.search", "--study tiny --val-data {d}/garbage " + S, "garbage/a.png: cannot read image"),
    ("nas.search", "--study tiny --sampler grid " + S, "argument --sampler: invalid choice: 'grid'"),
    ("nas.search", "--study tiny --halving --eta 1 " + S, "--eta must be >= 2"),
    ("nas.search", "--study tiny --stop-early --asha " + S, "--halving, --asha and --stop-early: choose one"),
    ("nas.search", "--study tiny --stop-early --eta 1 " + S, "--eta must be >= 2 (got 1)"),
    ("nas.search", "--study tiny --timeout -5 " + S, "--timeout: -5.0 is not in 1.."),
    ("nas.search", "--study tiny --artifacts {d}/afile " + S, "--artifacts: cannot use {d}/afile as a folder"),
    ("nas.search", "--study tiny --device tpu " + S, "device: 'tpu' (allowed: cpu, cuda)"),
    ("nas.report", "--study nope --storage {url} --out {d}/r.html", "--study: no study 'nope' in sqlite:///"),
    ("nas.report", "--study tiny-random --storage sqlite:///{d}/afile --out {d}/r.html", "file is not a database"),
    ("nas.report", "--study tiny-random --storage sqlite:///{d}/none.db --out {d}/r.html", "no such SQLite file"),
    ("nas.report", "--study tiny-random --storage {url} --out {d}/no/r.html", "--out: folder {d}/no does not exist"),
    ("nas.report", "--study tiny-random --storage {url} --out {d}/empty", "--out: {d}/empty is a folder"),
    ("nas.analyze", "--study nope --storage {url} --out {d}/a", "--study: no study 'nope'"),
    ("nas.analyze", "--study tiny-random --storage {url}", "--study and --out are required"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --bins 0", "--bins: 0 is not in 1..100"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --boot 0", "--boot: 0 is not in 10..100000"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --perm 100000000000", "--perm: 100000000000"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --subspace bad", "must read NAME=PREDICATE"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --subspace a=__import__", "unknown feature"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --only nope", "--only: unknown sub-space"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --compare x", "--compare: 'x' must be A:B"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/afile", "--out: {d}/afile is a file"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --budget-x 7", "re-trained at 7x"),
    ("nas.analyze", "--study tiny-random --storage {url} --out {d}/a --region nope", "--region: 'nope' (recorded"),
    ("nas.export", "--study x --storage {url} --out {d}/e", "one of the arguments --trial --preset --knee"),
    ("nas.export", "--study nope --storage {url} --knee --out {d}/e", "--study: no study 'nope'"),
    ("nas.export", "--study tiny-random --storage {url} --trial 999 --out {d}/e", "--trial: no trial 999"),
    ("nas.export", "--study tiny-random --storage {url} --preset nope --out {d}/e", "--preset: no COMPLETE trial"),
    ("nas.export", "--study tiny-random --storage {url} --max-macs -1 --out {d}/e", "--max-macs: no COMPLETE trial"),
    ("nas.export", "--study tiny-random --storage {url} --knee --out {d}/afile", "--out: {d}/afile is a file"),
    ("nas.fidelity", "--study tiny-random --storage {url} --k 2", "--k: at least 3 architectures"),
    ("nas.fidelity", "--study tiny-random --storage {url} --shard 3/2", "--shard: '3/2' needs 0 <= I < N"),
    ("nas.fidelity", "--study tiny-random --storage {url} --deltas x", "--deltas: 'x' is not a comma-separated"),
    ("nas.fidelity", "--study tiny-random --storage {url} --seeds 0", "--seeds: 0 is not in 1..100"),
    ("nas.fidelity", "--study tiny-random --storage {url} --budget-x nan", "--budget-x: nan is not in"),
    ("nas.fidelity", "--study tiny-random --storage {url} --budget-x 1e12", "--budget-x: 1000000000000.0 is not"),
    ("nas.fidelity", "--study tiny-random --storage {url} --data {d}/garbage --k 3", "garbage/a.png: cannot read"),
    ("nas.fidelity", "--study tiny-random.fidelity --storage {url}", "is a fidelity record; name the study"),
    ("nas.fidelity", "--study tiny-random --storage {url} --first nope", "--first: 'nope' is none of the 5"),
    ("nas.fidelity", "--study tiny-random --storage sqlite:///{d}/none.db", "no such SQLite file"),
    ("nas.regions", "--model a " + R, "--model 'a': expected NAME=FOLDER or NAME=SPEC.json:WEIGHTS"),
    ("nas.regions", "--model bicubic={d}/ms3.json:{d}/garbage.pt " + R, "the name 'bicubic' is the baseline's"),
    ("nas.regions", "--model a={d}/empty " + R, "--model a: {d}/empty holds no spec.json"),
    ("nas.regions", "--model a={d}/x.pt " + R, "--model a: {d}/x.pt is neither a folder nor SPEC.json:WEIGHTS"),
    ("nas.regions", M + " " + R, "garbage.pt: cannot load weights"),
    ("nas.regions", M + " --data {d}/ok --scale 2 --out {d}/r", "--model a: --scale 2 but"),
    ("nas.regions", M + " --data {d}/small --scale 4 --out {d}/r", "a.png: too small for x4"),
    ("nas.regions", M + " --data {d}/garbage --scale 4 --out {d}/r", "garbage/a.png: cannot read image"),
    ("nas.regions", M + " " + R + " --rescale 1.5", "--rescale: 1.5 is not in"),
    ("nas.regions", M + " " + R + " --rescale 0.1", "--rescale 0.1: a.png becomes 7x7, too small for x4"),
    ("nas.regions", M + " --data {d}/ok --scale 4 --out {d}/afile", "--out: {d}/afile is a file"),
    ("nas.regions", M + " " + R + " --tile 2", "--tile 2: must be at least 8"),
    ("nas.regions", M + " " + R + " --data {d}/ok", "--data: a.png found in more than one folder"),
    ("nas.dashboard", S, "--storage: sqlite:///{d}/new.db is not a SQLite file (run nas.search first)"),
    ("nas.dashboard", "--port 70000", "--port: 70000 is not in 1..65535"),
]


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad-input")
    for name in ("empty", "garbage", "small", "ok"):
        (d / name).mkdir()
    (d / "garbage" / "a.png").write_text("not an image")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "small" / "a.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(d / "ok" / "a.png")
    (d / "afile").write_text("a file where a folder belongs")
    (d / "unknown.json").write_text(json.dumps({"backbone": "nope"}))
    (d / "garbage.pt").write_bytes(np.random.default_rng(1).bytes(100))
    (d / "ms3.json").write_text(preset("ms3").to_json())
    return d


@pytest.fixture(scope="module")
def with_companion(tiny_random_url: str) -> str:
    """The module's copy of the tiny random study with its fidelity companion made up front, so that the case
    naming the companion meets the refusal for naming a record whatever ran before it."""
    open_companion(optuna.load_study(study_name="tiny-random", storage=storage_for(tiny_random_url)))
    return tiny_random_url


@pytest.mark.parametrize(("prog", "argv", "message"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_one_line_exit_2_and_nothing_made(
    bad: Path, with_companion: str, capsys: pytest.CaptureFixture[str], prog: str, argv: str, message: str
):
    fill = {"d": str(bad), "url": with_companion, "spec": str(bad / "ms3.json")}
    before = sorted(p.name for p in bad.iterdir())
    assert MAINS[prog](argv.format(**fill).split()) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"{prog}: error: "), err
    assert message.format(**fill) in err
    assert sorted(p.name for p in bad.iterdir()) == before, "a refused command left something behind"


def test_every_command_is_in_the_table():
    assert {c[0] for c in CASES} == set(MAINS)
