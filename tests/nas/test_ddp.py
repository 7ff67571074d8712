"""Full training under torchrun: 2 gloo ranks match 1 process on the same global batch, and DDP runs resume.

Each run is the real command, ``python -m torch.distributed.run --standalone --nproc_per_node 2 -m nas.train``,
on a tiny network (8 filters, 1 block, x2) and a global batch of 2 (1 patch per rank); torchrun and its ranks start
warm (``tests/warm.py``): a killed rank is its warm client, whose death kills the rank at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nas.train import main
from nas.training.checkpoint import CHECKPOINT
from tests import warm
from tests.nas.test_train_cli import make_files
from tests.warm import Command

ROOT = Path(__file__).resolve().parents[2]
ITERS = 48
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_files(tmp_path_factory.mktemp("ddp-data"))


def argv(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        *("--arch", str(files["arch"]), "--data", str(files["train"]), "--val-data", str(files["val"])),
        *("--out", str(out), "--iters", str(ITERS), "--batch", "2", "--hr-patch", "16"),
        *("--val-every", "16", "--ckpt-every", "6", "--no-subimages", "--device", "cpu"),
        *("--bench-data", str(files["val"]), *extra),
    ]


def torchrun(files: dict[str, Path], out: Path, *extra: str) -> Command:
    """Two gloo ranks of ``nas.train`` (stderr kept in OUT.err for failure messages), torchrun and its ranks
    started warm (``PYTHON_EXEC``: the ranks' interpreter)."""
    python = warm.shim_python(Path(f"{out}.python"), warm.shared())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    log = open(f"{out}.err", "wb")  # noqa: SIM115  (closed by the process's end; the file outlives the call)
    return warm.popen([*cmd, "-m", "nas.train", *argv(files, out, *extra)], cwd=ROOT,
                      env={**ENV, "PYTHON_EXEC": str(python)}, stdout=log, stderr=log)  # fmt: skip


def finished(proc: Command, out: Path) -> None:
    assert proc.wait(timeout=120) == 0, Path(f"{out}.err").read_text()[-3000:]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "model.pt", weights_only=True)["model"]


def close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=atol) for k in a)


@pytest.fixture(scope="module")
def ddp_run(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted 2-rank run, shared by the tests that compare against it."""
    out = tmp_path_factory.mktemp("ddp") / "straight"
    finished(torchrun(files, out), out)
    return out


def test_two_ranks_match_one_process_with_the_same_global_batch(files, ddp_run, tmp_path):
    single = tmp_path / "single"
    assert main(argv(files, single)) == 0
    one, two = (json.loads((o / "final.json").read_text()) for o in (single, ddp_run))
    assert (one["world_size"], one["batch_per_rank"]) == (1, 2)
    assert (two["world_size"], two["batch_per_rank"]) == (2, 1)
    assert [h["iteration"] for h in two["history"]] == [16, 32, 48]
    for a, b in zip(one["history"], two["history"], strict=True):
        assert abs(a["psnr"] - b["psnr"]) < 0.01
    assert abs(one["benchmarks"]["val"]["psnr"] - two["benchmarks"]["val"]["psnr"]) < 0.01
    # gradients are averaged over the ranks' halves: the same as the whole batch's, up to rounding
    assert close(weights(single), weights(ddp_run), atol=1e-5)
    state = torch.load(ddp_run / CHECKPOINT, weights_only=True)
    assert (state["iteration"], state["world_size"], state["batch_per_rank"]) == (ITERS, 2, 1)


def pid_of_rank(parent: int, rank: int) -> int | None:
    """The process below ``parent`` whose environment says RANK=rank (torchrun's worker), if started yet."""
    todo, want = [parent], f"RANK={rank}".encode()
    while todo:
        pid = todo.pop()
        try:
            if pid != parent and want in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return None


def test_a_killed_rank_and_a_resume_give_the_uninterrupted_weights(files, ddp_run, tmp_path):
    killed = tmp_path / "killed"
    proc = torchrun(files, killed)
    deadline = time.monotonic() + 120
    while not (killed / CHECKPOINT).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = pid_of_rank(proc.pid, 1)
    assert victim is not None, Path(f"{killed}.err").read_text()[-3000:]
    os.kill(victim, signal.SIGKILL)
    assert proc.wait(timeout=120) != 0  # torchrun ends the other rank and reports the failure
    state = torch.load(killed / CHECKPOINT, weights_only=True)
    assert 0 < state["iteration"] < ITERS, "the run was not killed part-way; make ITERS larger"

    finished(torchrun(files, killed, "--resume"), killed)
    a, b = weights(ddp_run), weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [h["iteration"] for h in json.loads((killed / "final.json").read_text())["history"]] == [16, 32, 48]


def test_an_interrupted_single_process_run_resumes_under_ddp(files, ddp_run, tmp_path):
    """SIGINT stops a plain run after the step in progress, with a checkpoint of that step; two ranks go on."""
    out = tmp_path / "mixed"
    proc = warm.popen(
        [sys.executable, "-m", "nas.train", *argv(files, out)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (out / CHECKPOINT).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "interrupted; checkpoint saved" in err.decode()
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert 0 < state["iteration"] < ITERS and (state["world_size"], state["batch_per_rank"]) == (1, 2)

    finished(torchrun(files, out, "--resume"), out)
    assert close(weights(out), weights(ddp_run), atol=1e-5)
    assert json.loads((out / "final.json").read_text())["world_size"] == 2
