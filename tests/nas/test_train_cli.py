"""Full training: a killed run resumed from its checkpoint ends with the uninterrupted run's weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas.train import main
from nas.training.full import CHECKPOINT, RUN_FILES, next_boundary
from space import preset

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


def test_killed_run_resumes_to_the_same_weights(setup_files, tmp_path):
    straight = tmp_path / "straight"
    assert main(argv(setup_files, straight)) == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
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
    summary = json.loads((killed / "final.json").read_text())
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
    names = [CHECKPOINT + ".tmp", "spec.json", "final.json"]
    for name in names:
        (tmp_path / f"victim-{name}").write_text("untouched")
        (out / name).symlink_to(tmp_path / f"victim-{name}")
    short = ["--iters", "6", "--val-every", "6", "--ckpt-every", "6", "--overwrite"]  # final.json is there
    assert main([*argv(setup_files, out), *short]) == 0
    assert all((tmp_path / f"victim-{name}").read_text() == "untouched" for name in names)
    assert json.loads((out / "final.json").read_text())["history"] and not (out / "spec.json").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == sorted([*RUN_FILES, "spec.json", CHECKPOINT + ".tmp"])


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
