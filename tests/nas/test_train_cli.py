"""Full training: a killed run resumed from its checkpoint ends with the uninterrupted run's weights."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas.train import LOG, main
from nas.training.checkpoint import CHECKPOINT
from nas.training.full import FINAL, RUN_FILES, next_boundary
from nas.training.recipe import PROTOCOL, RECIPE
from space import preset
from tests import warm

ROOT = Path(__file__).resolve().parents[2]
ITERS = 36


def make_files(root: Path) -> dict[str, Path]:
    """Two small training and two validation images, and a tiny ms3 x2 spec, under ``root``."""
    rng = np.random.default_rng(0)
    for folder in ("train", "val"):
        (root / folder).mkdir()
        for k in range(2):
            img = rng.integers(0, 256, (24, 20), dtype=np.uint8).repeat(2, 0).repeat(2, 1)
            Image.fromarray(np.stack([img, img[::-1], img[:, ::-1]], 2)).save(root / folder / f"{k}.png")
    arch = root / "arch.json"
    arch.write_text(preset("ms3", upscale=2).resized(8, 1).to_json())
    return {"arch": arch, "train": root / "train", "val": root / "val"}


@pytest.fixture
def setup_files(tmp_path: Path) -> dict[str, Path]:
    return make_files(tmp_path)


def argv(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "--arch",
        str(files["arch"]),
        "--data",
        str(files["train"]),
        "--val-data",
        str(files["val"]),
        "--out",
        str(out),
        "--iters",
        str(ITERS),
        "--batch",
        "2",
        "--hr-patch",
        "16",
        "--val-every",
        "12",
        "--ckpt-every",
        "6",
        "--no-subimages",
        "--device",
        "cpu",
        "--bench-data",
        str(files["val"]),
        *extra,
    ]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "model.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(setup_files, tmp_path):
    straight = tmp_path / "straight"
    assert main(argv(setup_files, straight)) == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = warm.popen(
        [sys.executable, "-m", "nas.train", *argv(setup_files, killed)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (killed / CHECKPOINT).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = torch.load(killed / CHECKPOINT, weights_only=True)
    assert 0 < state["iteration"] < ITERS, "the run was not killed part-way; make ITERS larger"

    assert main(argv(setup_files, killed, "--resume")) == 0
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((killed / FINAL).read_text())
    assert summary["benchmarks"]["val"]["n_images"] == 2
    assert [h["iteration"] for h in summary["history"]] == [12, 24, 36]


def test_bad_arguments_are_one_line(setup_files, tmp_path, capsys):
    assert main(argv(setup_files, tmp_path / "o", "--iters", "0")) == 2
    assert main(["--arch", str(tmp_path / "nope.json")]) == 2
    assert main(argv(setup_files, tmp_path / "o", "--hr-patch", "15")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("nas.train: error: ") for line in err)


def test_next_boundary():
    assert next_boundary(0, 12, 6) == 6 and next_boundary(6, 12, 6) == 12 and next_boundary(13, 5, 7) == 14


def test_a_used_out_is_refused_unless_resumed_or_overwritten(setup_files, tmp_path, capsys):
    out = tmp_path / "run"
    short = ["--iters", "6", "--val-every", "6", "--ckpt-every", "6"]
    assert main([*argv(setup_files, out), *short]) == 0
    before = (out / "final.json").read_text()
    capsys.readouterr()
    assert main([*argv(setup_files, out), *short]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds an earlier run (checkpoint.pt, model.pt, final.json)" in err
    assert (out / "final.json").read_text() == before  # nothing replaced
    assert main([*argv(setup_files, out), *short, "--resume", "--overwrite"]) == 2
    assert main([*argv(setup_files, out), *short, "--overwrite"]) == 0


def test_planted_links_are_never_written_through(setup_files, tmp_path):
    """A link at the old fixed temporary name (checkpoint.pt.tmp) or at an output's own name is never followed."""
    out = tmp_path / "run"
    out.mkdir()
    names = [CHECKPOINT + ".tmp", "spec.json", "final.json", LOG]
    for name in names:
        (tmp_path / f"victim-{name}").write_text("untouched")
        (out / name).symlink_to(tmp_path / f"victim-{name}")
    short = ["--iters", "6", "--val-every", "6", "--ckpt-every", "6", "--overwrite"]  # final.json is there
    assert main([*argv(setup_files, out), *short]) == 0
    assert all((tmp_path / f"victim-{name}").read_text() == "untouched" for name in names)
    assert json.loads((out / "final.json").read_text())["history"] and not (out / "spec.json").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == sorted([*RUN_FILES, "spec.json", LOG, CHECKPOINT + ".tmp"])
    assert not (out / LOG).is_symlink() and "finished" in (out / LOG).read_text()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", None])
def test_a_corrupt_checkpoint_on_resume_is_one_line_and_kept(setup_files, tmp_path, capsys, content):
    out = tmp_path / "run"
    out.mkdir()
    if content is None:
        torch.save({"iteration": 3}, out / CHECKPOINT)  # readable, but not ours
    else:
        (out / CHECKPOINT).write_bytes(content)
    kept = (out / CHECKPOINT).read_bytes()
    assert main(argv(setup_files, out, "--resume")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--resume: {out / CHECKPOINT} is not" in err and "it is kept" in err
    assert (out / CHECKPOINT).read_bytes() == kept


def test_several_data_folders_train_together(setup_files, tmp_path):
    from nas.train import config_of, parse_args
    from nas.training.full import setup

    more = tmp_path / "more"
    more.mkdir()
    Image.fromarray(np.full((48, 40, 3), 200, np.uint8)).save(more / "0.png")  # a name the first folder has too
    config = config_of(parse_args(argv(setup_files, tmp_path / "out", "--data", str(more))))
    assert config.data == (str(setup_files["train"]), str(more)) and config.val_data == (str(setup_files["val"]),)
    run = setup(config)
    assert [p.name for p in run.sampler.pictures] == ["train/0", "train/1", "more/0"]
    assert all(p.array is not None for p in run.sampler.pictures)  # a small set: decoded once, in memory


@pytest.mark.parametrize("case", ["lr-data with two folders", "a benchmark image trains"])
def test_data_that_cannot_train_is_one_line(setup_files, tmp_path, capsys, case):
    import shutil

    extra = ["--data", str(setup_files["train"]), "--lr-data", str(setup_files["val"])]
    said = "--lr-data: needs --data, one folder: the HR images its LR images match (got 2)"
    if case == "a benchmark image trains":
        bench = tmp_path / "bench"
        bench.mkdir()
        shutil.copyfile(setup_files["train"] / "1.png", bench / "1.png")
        extra, said = ["--bench-data", str(bench)], f"{setup_files['train'] / '1.png'} has the same pixels as"
    assert main(argv(setup_files, tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err
    assert not (tmp_path / "out" / "model.pt").exists()


# ---- what a run records: final.json's recipe and protocol, the log ----

RECORDED = [
    "--iters",
    "4",
    "--val-every",
    "2",
    "--ckpt-every",
    "2",
    "--seed",
    "3",
    "--lr",
    "1e-3",
    "--halve-every",
    "3",
]
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (.*)")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict[str, Path]:
    """One short run on two training folders (3 images), its recipe set away from every default."""
    root = tmp_path_factory.mktemp("recorded")
    files = make_files(root)
    more = root / "more"
    more.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(more / "m.png")
    out = root / "out"
    assert main(argv(files, out, "--data", str(more), *RECORDED)) == 0
    return {**files, "more": more, "out": out}


def log_messages(out: Path) -> list[str]:
    """The log's lines without their timestamps (every line has one)."""
    lines = (out / LOG).read_text().splitlines()
    matches = [LOG_LINE.fullmatch(line) for line in lines]
    assert all(matches), lines
    return [m.group(1) for m in matches if m]


def test_final_json_records_the_recipe_and_the_evaluation_protocol(recorded):
    final = json.loads((recorded["out"] / FINAL).read_text())
    recipe, protocol = final[RECIPE], final[PROTOCOL]
    assert recipe["data"]["train"]["folders"] == ["train", "more"] and recipe["data"]["train"]["images"] == 3
    assert recipe["data"]["val"]["folders"] == ["val"] and recipe["data"]["val"]["images"] == 2
    assert recipe["lr_data"] is None and recipe["subimages"] is None  # --no-subimages
    assert (recipe["scale"], recipe["iterations"], recipe["batch"]) == (2, 4, 2)
    assert (recipe["hr_patch"], recipe["lr_patch"], recipe["lr"], recipe["seed"]) == (16, 8, 1e-3, 3)
    assert recipe["schedule"] == {"kind": "step", "warmup": 0, "every": 3, "factor": 0.5}
    assert recipe["optimizer"] == {"name": "Adam", "betas": [0.9, 0.999], "eps": 1e-8}
    assert (recipe["loss"], recipe["precision"]) == ("L1", "float32")
    assert (protocol["scale"], protocol["border"]) == (2, 2) and "Y" in protocol["channel"]
    assert protocol["validation"] == {"folders": ["val"], "images": 2, "every": 2}
    assert protocol["benchmarks"] == {"val": 2} and final["benchmarks"]["val"]["n_images"] == 2


def test_the_log_says_each_step_of_the_run(recorded):
    messages = log_messages(recorded["out"])
    assert messages[0].startswith("training ") and " from iteration 0 to 4; " in messages[0]
    assert (
        messages[1].startswith("data train train+more (3 images, ") and "lr 0.001 x0.5 every 3, seed 3" in messages[1]
    )
    history = json.loads((recorded["out"] / FINAL).read_text())["history"]
    validations = [m for m in messages if m.startswith("iteration ")]
    assert [v.split(":")[0] for v in validations] == ["iteration 2/4", "iteration 4/4"]
    for line, entry in zip(validations, history, strict=True):
        assert f"validation PSNR {entry['psnr']:.2f} dB, SSIM {entry['ssim']:.4f}" in line
        loss = float(re.search(r"loss (\S+) ", line).group(1))  # type: ignore[union-attr]
        assert 0 < loss < 1
    assert "lr 0.0005," in validations[1]  # halved after iteration 3
    assert messages[-2].startswith("val ") and "(2 images)" in messages[-2]
    assert messages[-1] == f"finished: model.pt and {FINAL} written"


def test_a_resume_appends_to_the_log(recorded, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(recorded["out"], out)
    before = (out / LOG).read_text()
    extra = ["--data", str(recorded["more"]), *RECORDED, "--iters", "6", "--resume"]
    assert main(argv(recorded, out, *extra)) == 0
    assert (out / LOG).read_text().startswith(before)
    added = log_messages(out)[len(before.splitlines()) :]
    assert " from iteration 4 to 6; " in added[0] and added[2].startswith("iteration 6/6: ")
    assert json.loads((out / FINAL).read_text())[RECIPE]["iterations"] == 6  # a resume may train longer


@pytest.mark.parametrize(
    ("extra", "said"),
    [(["--lr", "2e-3"], "lr 0.001 -> 0.002"), (["--seed", "4"], "seed 3 -> 4"), ([], "data train train+more")],
)
def test_a_resume_with_another_recipe_is_refused(recorded, capsys, extra, said):
    out = recorded["out"]
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    more = [] if not extra else ["--data", str(recorded["more"])]  # no extra: the second folder is left out
    assert main(argv(recorded, out, *more, *RECORDED, *extra, "--resume")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "was trained with another recipe (" in err and said in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == kept


def test_every_data_flag_is_kept():
    """A repeated flag of nas.train is a list in its configuration, never the last one alone."""
    from nas.train import config_of, parse_args

    flags = {"--data": "data", "--val-data": "val_data", "--bench-data": "bench_data"}
    given = [part for flag, field in flags.items() for part in (flag, f"{field}-1", flag, f"{field}-2")]
    config = config_of(parse_args(["--arch", "a.json", *given]))
    assert all(getattr(config, field) == (f"{field}-1", f"{field}-2") for field in flags.values())


def test_a_second_lr_data_is_refused_not_taken_alone(setup_files, tmp_path, capsys):
    lr = ["--lr-data", str(setup_files["val"]), "--lr-data", str(setup_files["train"])]
    assert main(argv(setup_files, tmp_path / "out", *lr)) == 2
    err = capsys.readouterr().err
    assert err == "nas.train: error: --lr-data: one folder (the LR images of the one --data), got 2\n"
    assert not (tmp_path / "out").exists()


def test_a_run_that_diverges_says_so_in_its_log(setup_files, tmp_path):
    out = tmp_path / "run"
    assert main(argv(setup_files, out, "--iters", "4", "--val-every", "2", "--ckpt-every", "2", "--lr", "1e30")) == 1
    messages = log_messages(out)
    assert messages[0].startswith("training ") and messages[-1].startswith("stopped: training diverged: loss became")


def test_a_checkpoint_from_before_recipes_were_kept_resumes(recorded, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(recorded["out"], out)
    state = torch.load(out / CHECKPOINT, weights_only=True)
    del state[RECIPE]
    torch.save(state, out / CHECKPOINT)
    extra = ["--data", str(recorded["more"]), *RECORDED, "--iters", "6", "--resume"]
    assert main(argv(recorded, out, *extra)) == 0
    assert json.loads((out / FINAL).read_text())[RECIPE]["seed"] == 3  # the flags of the resume, as before
