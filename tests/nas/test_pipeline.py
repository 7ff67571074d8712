"""The data pipeline: ranks' slices make the global batch, and worker processes change no batch and no weight."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from backbones import build_model
from nas.sr.patches import PatchSampler, batches
from nas.sr.pictures import Picture
from nas.train import main
from nas.training.loop import Schedule, StepLog, make_optimizer, prepare_model, train_steps
from space import preset

CPU = torch.device("cpu")


def images(n: int = 3, size: int = 40) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [(f"i{k}", rng.integers(0, 256, (size, size + 4 * k, 3), dtype=np.uint8)) for k in range(n)]


def test_the_ranks_slices_make_the_global_batch():
    whole = PatchSampler.from_images(images(), 2, 8, 4, seed=3)
    for world in (1, 2, 4):
        parts = [dataclasses.replace(whole, shard=(r, world)) for r in range(world)]
        assert all(p.per_rank == 4 // world for p in parts)
        for i in (0, 7):
            assert np.array_equal(np.concatenate([p.hr_batch(i) for p in parts]), whole.hr_batch(i))
            lrs = [p.batch_at(i)[0] for p in parts]
            assert torch.equal(torch.cat(lrs), whole.batch_at(i)[0])  # LR of a slice is the slice of the LR


def test_premade_lr_slices_too():
    hr = [Picture.of_array(n, a) for n, a in images()]
    lr = [Picture.of_array(n, a[::2, ::2].copy()) for n, a in images()]
    whole = PatchSampler(tuple(hr), 2, 8, 4, 5, lr_pictures=tuple(lr))
    half = dataclasses.replace(whole, shard=(1, 2))
    hr_all, lr_all = whole.crops(2)
    hr_half, lr_half = half.crops(2)
    assert lr_all is not None and lr_half is not None
    assert np.array_equal(hr_half, hr_all[2:]) and np.array_equal(lr_half, lr_all[2:])


def test_a_batch_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match="equal slice of a batch of 3"):
        PatchSampler(tuple(Picture.of_array(n, a) for n, a in images()), 2, 8, 3, 0, shard=(0, 2))


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_same_batches_in_the_same_order(workers):
    sampler = PatchSampler.from_images(images(), 2, 8, 4, seed=7)
    plain = list(batches(sampler, 3, 11, CPU))
    loaded = list(batches(sampler, 3, 11, CPU, workers=workers, prefetch=2))
    assert len(plain) == len(loaded) == 8
    for (lr_a, hr_a), (lr_b, hr_b) in zip(plain, loaded, strict=True):
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)
    assert torch.equal(plain[0][1], sampler.batch_at(3)[1])


def trained(workers: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = prepare_model(build_model(preset("ms3", upscale=2).resized(8, 1)), CPU)
    optimizer, scheduler = make_optimizer(model, Schedule("constant", 1e-3, total=6))
    sampler = PatchSampler.from_images(images(), 2, 8, 2, 0)
    train_steps(model, optimizer, scheduler, sampler, 0, 6, CPU, StepLog(), workers=workers)
    return model.state_dict()


def test_training_with_workers_ends_with_the_same_weights():
    a, b = trained(0), trained(2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_refuses_a_batch_that_the_ranks_cannot_split(monkeypatch, tmp_path, capsys):
    """Under torchrun (its variables set) a global batch of 3 over 2 ranks is one line, before any group is joined."""
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(name, value)
    arch = tmp_path / "arch.json"
    arch.write_text(preset("ms3", upscale=2).resized(8, 1).to_json())
    assert main(["--arch", str(arch), "--batch", "3", "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == "nas.train: error: --batch: 3 does not split evenly over 2 ranks\n"
    assert main(["--arch", str(arch), "--workers", "-1", "--out", str(tmp_path / "o")]) == 2
