"""The prepared GPU check must run wherever a GPU appears: smoke-test its code path on the CPU."""

from __future__ import annotations

import math

import torch

from benchmarks.gpu_check import measure, texture_images


def test_gpu_check_runs_on_cpu():
    row = measure("ms3", iters=1, batch=1, device=torch.device("cpu"), warmup=1)
    assert row["samples_per_s"] > 0 and math.isfinite(row["final_loss"])
    assert round(row["gmacs"], 2) == 17.16 and math.isnan(row["peak_gib"])


def test_texture_images_are_uint8_rgb():
    images = texture_images(n=2, size=64)
    assert [img.shape for _, img in images] == [(64, 64, 3)] * 2 and images[0][1].dtype.name == "uint8"
