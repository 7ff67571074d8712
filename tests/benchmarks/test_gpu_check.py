"""``benchmarks.gpu_check --smoke`` on the CPU: every part of the GPU check runs (toy sizes), so the first
session lent a GPU only has to run it."""

from __future__ import annotations

import re

import pytest

from benchmarks.gpu_check import PAPER, main, texture_images


def test_the_paper_sizes_are_the_issues():
    assert (PAPER.batch, PAPER.hr_patch, PAPER.width, PAPER.blocks, PAPER.lr_size) == (16, 128, None, None, 128)


def test_texture_images_are_uint8_rgb():
    images = texture_images(n=2, size=64)
    assert [img.shape for _, img in images] == [(64, 64, 3)] * 2 and images[0][1].dtype.name == "uint8"


@pytest.mark.slow
def test_smoke_run_prints_the_whole_block(capsys):
    assert main(["--smoke", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### GPU check: cpu, torch ")
    rows = re.findall(
        r"^\| (srresnet|carn) \| (standard|ms3) \| [\d.]+ \| [\d.]+ \| \d+ \| nan \| [\d.]+ \|$", out, re.M
    )
    assert sorted(rows) == sorted((b, v) for b in ("srresnet", "carn") for v in ("standard", "ms3"))
    for backbone in ("srresnet", "carn"):
        assert re.search(rf"^- {backbone}: MS3 / standard training speed [\d.]+x \(MAC ratio [\d.]+x", out, re.M)
    assert re.search(r"^- data pipeline: \d+ samples/s per CPU core", out, re.M)
    assert re.search(r"^- GPU proxy trial \(ms3 study, ms3, 4 iterations\): [\d.]+ s wall", out, re.M)
    assert re.search(
        r"^- torchrun --nproc_per_node 1 nas.train, 4 iterations: .* world_size 1, \d+ samples/s$", out, re.M
    )
    assert re.search(r"^- inference, SRResNet, batch 1, 16x16 LR: standard [\d.]+ ms fp32", out, re.M)
