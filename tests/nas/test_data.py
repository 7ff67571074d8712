"""Training data: reproducible batches, augmentation, sub-images, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nas.errors import InputError
from nas.sr.data_identity import BUNDLED, data_identity
from nas.sr.held_out import check_unseen, validation_images
from nas.sr.images import ImageError
from nas.sr.patches import PatchSampler, augment
from nas.sr.pictures import (
    EMBEDDED_TRAIN,
    EMBEDDED_VAL,
    embedded_images,
    folder_images,
    prepare_subimages,
    subimage_boxes,
    training_pictures,
)


def random_images(n: int = 3, size: tuple[int, int] = (64, 80)) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(f"img{i}", rng.integers(0, 256, (*size, 3), dtype=np.uint8)) for i in range(n)]


def test_batches_are_a_function_of_seed_and_iteration():
    a = PatchSampler.from_images(random_images(), scale=2, patch=8, batch=4, seed=3)
    b = PatchSampler.from_images(random_images(), scale=2, patch=8, batch=4, seed=3)
    assert np.array_equal(a.hr_batch(17), b.hr_batch(17))
    assert not np.array_equal(a.hr_batch(17), a.hr_batch(18))
    other_seed = PatchSampler.from_images(random_images(), scale=2, patch=8, batch=4, seed=4)
    assert not np.array_equal(a.hr_batch(17), other_seed.hr_batch(17))


def test_batch_shapes_ranges_and_quantised_lr():
    sampler = PatchSampler.from_images(random_images(), scale=3, patch=6, batch=5, seed=0, quantize_lr=True)
    lr, hr = sampler.batch_at(0)
    assert lr.shape == (5, 3, 6, 6) and hr.shape == (5, 3, 18, 18)
    assert float(lr.min()) >= 0 and float(lr.max()) <= 1
    torch.testing.assert_close(lr * 255, (lr * 255).round())


def test_augment_covers_the_eight_symmetries():
    patch = np.arange(16, dtype=np.uint8).reshape(4, 4)
    variants = {augment(patch, code).tobytes() for code in range(8)}
    assert len(variants) == 8
    assert np.array_equal(augment(patch, 0), patch)


def test_patch_larger_than_an_image_names_it():
    with pytest.raises(ImageError, match=r"img0: 80x64 is smaller than the 96x96 HR patch"):
        PatchSampler.from_images(random_images(), scale=4, patch=24, batch=1, seed=0)


def test_subimage_boxes_cover_the_image():
    boxes = subimage_boxes(1000, 700)
    assert (0, 0) in boxes and (520, 220) in boxes
    assert all(y + 480 <= 1000 and x + 480 <= 700 for y, x in boxes)
    assert subimage_boxes(300, 200) == [(0, 0)]


def test_prepare_subimages_is_cached_and_atomic(tmp_path):
    src = tmp_path / "hr"
    src.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (500, 730, 3), dtype=np.uint8)).save(src / "a.png")
    out = prepare_subimages(src, tmp_path / "cache", size=480, stride=240)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "a_00000_00000.png",
        "a_00000_00240.png",
        "a_00000_00250.png",
        "a_00020_00000.png",
        "a_00020_00240.png",
        "a_00020_00250.png",
    ]
    assert prepare_subimages(src, tmp_path / "cache") == out  # second call: nothing redone
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [out.name]  # no staging left behind


def test_the_cache_follows_the_folders_content_and_a_killed_runs_staging_goes(tmp_path):
    import os
    import subprocess

    src = tmp_path / "hr"
    src.mkdir()
    Image.fromarray(np.zeros((500, 500, 3), dtype=np.uint8)).save(src / "a.png")
    first = prepare_subimages(src, tmp_path / "cache")
    Image.fromarray(np.full((500, 500, 3), 9, dtype=np.uint8)).save(src / "b.png")  # an image added
    second = prepare_subimages(src, tmp_path / "cache")
    assert second != first and {p.name.split("_")[0] for p in second.iterdir()} == {"a", "b"}
    (src / "a.png").unlink()  # and one removed: its crops are not reused
    third = prepare_subimages(src, tmp_path / "cache")
    assert {p.name.split("_")[0] for p in third.iterdir()} == {"b"}
    finished = subprocess.Popen(["true"])  # a finished process: its id now names nobody
    finished.wait()
    dead_pid = finished.pid
    dead = tmp_path / "cache" / f".{third.name}.{dead_pid}.x1y2"
    live = tmp_path / "cache" / f".{third.name}.{os.getpid()}.z3w4"
    dead.mkdir()
    live.mkdir()
    (src / "c.png").write_bytes((src / "b.png").read_bytes())  # new content: a new preparation runs
    prepare_subimages(src, tmp_path / "cache")
    assert not dead.exists() and live.exists()  # a killed run's staging goes; a live one's stays


def test_interrupted_preparation_leaves_nothing(tmp_path):
    src = tmp_path / "hr"
    src.mkdir()
    Image.fromarray(np.zeros((500, 500, 3), dtype=np.uint8)).save(src / "a.png")
    (src / "b.png").write_bytes(b"not a png")
    with pytest.raises(ImageError, match=r"b\.png"):
        prepare_subimages(src, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(ImageError, match="missing"):
        folder_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="empty"):
        folder_images(tmp_path / "empty")


def test_embedded_default_is_offline_and_split():
    train = embedded_images(EMBEDDED_TRAIN)
    val = embedded_images(EMBEDDED_VAL)
    assert len(train) == len(EMBEDDED_TRAIN) and len(val) == 2
    assert all(img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 for _, img in train + val)
    assert not {n for n, _ in train} & {n for n, _ in val}


def save(folder, name: str, img: np.ndarray) -> None:
    folder.mkdir(exist_ok=True)
    Image.fromarray(img).save(folder / f"{name}.png")


def block_mean(img: np.ndarray, f: int) -> np.ndarray:
    h, w, c = img.shape
    return img.reshape(h // f, f, w // f, f, c).mean(axis=(1, 3)).round().astype(np.uint8)


def test_folder_pictures_are_read_on_demand_and_pair_with_premade_lr(tmp_path):
    rng = np.random.default_rng(2)
    for k in range(2):
        hr = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
        save(tmp_path / "hr", f"{k:04d}", hr)
        save(tmp_path / "lr", f"{k:04d}x4", block_mean(hr, 4))
    hr_pics, lr_pics = training_pictures([tmp_path / "hr"], lr_data=tmp_path / "lr", scale=4, in_memory_bytes=0)
    assert lr_pics is not None and all(p.array is None for p in hr_pics)
    assert [(p.height, p.width) for p in lr_pics] == [(12, 10)] * 2
    sampler = PatchSampler(hr_pics, 4, 4, 3, seed=0, lr_pictures=lr_pics)
    hr, lr = sampler.crops(5)
    assert lr is not None and hr.shape == (3, 16, 16, 3) and lr.shape == (3, 4, 4, 3)
    # Block means commute with flips and rotations: aligned crops, the same augmentation on both.
    assert all(np.array_equal(block_mean(h, 4), low) for h, low in zip(hr, lr, strict=True))


def test_lr_pairs_are_checked(tmp_path):
    save(tmp_path / "hr", "a", np.zeros((48, 40, 3), np.uint8))
    save(tmp_path / "lr", "b", np.zeros((12, 10, 3), np.uint8))
    with pytest.raises(ImageError, match=r"no LR image a or ax4"):
        training_pictures([tmp_path / "hr"], lr_data=tmp_path / "lr", scale=4)
    save(tmp_path / "lr", "a", np.zeros((11, 10, 3), np.uint8))
    hr, lr = training_pictures([tmp_path / "hr"], lr_data=tmp_path / "lr", scale=4)
    with pytest.raises(ImageError, match=r"a: LR 10x11 does not match HR a 40x48 at x4"):
        PatchSampler(hr, 4, 4, 1, 0, lr_pictures=lr)


def test_corrupt_file_is_named_when_listed(tmp_path):
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ImageError, match=r"broken\.png"):
        training_pictures([tmp_path / "hr"])


# ---- several folders, in memory, benchmarks kept out, the data's identity ----


def test_several_folders_train_on_their_union_and_keep_images_of_one_name(tmp_path):
    save(tmp_path / "dark", "x", np.zeros((40, 40, 3), np.uint8))
    save(tmp_path / "light", "x", np.full((40, 40, 3), 255, np.uint8))
    save(tmp_path / "light", "y", np.full((40, 40, 3), 255, np.uint8))
    pictures, _ = training_pictures([tmp_path / "dark", tmp_path / "light"])
    assert [p.name for p in pictures] == ["dark/x", "light/x", "light/y"]
    sampler = PatchSampler(pictures, 2, 4, 8, seed=0)
    means = {int(crop.mean()) for i in range(4) for crop in sampler.hr_batch(i)}
    assert means == {0, 255}  # crops from both folders


def test_small_sets_are_decoded_into_memory_and_large_ones_read_on_demand(tmp_path):
    save(tmp_path / "hr", "a", np.full((40, 30, 3), 7, np.uint8))
    in_memory, _ = training_pictures([tmp_path / "hr"])
    assert in_memory[0].array is not None and in_memory[0].path == tmp_path / "hr" / "a.png"
    on_demand, _ = training_pictures([tmp_path / "hr"], in_memory_bytes=40 * 30 * 3 - 1)
    assert on_demand[0].array is None
    assert np.array_equal(in_memory[0].pixels(), on_demand[0].pixels())


def test_lr_images_pair_with_one_hr_folder_only(tmp_path):
    save(tmp_path / "hr", "a", np.zeros((48, 40, 3), np.uint8))
    save(tmp_path / "lr", "a", np.zeros((12, 10, 3), np.uint8))
    with pytest.raises(InputError, match=r"pair with one HR folder, not 2"):
        training_pictures([tmp_path / "hr", tmp_path / "hr"], lr_data=tmp_path / "lr", scale=4)


def test_validation_images_of_one_name_in_two_folders_are_refused(tmp_path):
    save(tmp_path / "a", "bird", np.zeros((24, 24, 3), np.uint8))
    save(tmp_path / "b", "bird", np.ones((24, 24, 3), np.uint8))
    save(tmp_path / "b", "head", np.ones((24, 24, 3), np.uint8))
    with pytest.raises(ImageError, match=r"a/bird\.png and .*b/bird\.png share the name 'bird'"):
        validation_images([tmp_path / "a", tmp_path / "b"])
    assert [n for n, _ in validation_images([tmp_path / "b"])] == ["bird", "head"]


def test_a_training_image_with_a_validation_images_pixels_is_refused(tmp_path):
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (24, 20), dtype=np.uint8)
    save(tmp_path / "val", "bridge", grey)  # grey, as Set14's bridge.png
    save(tmp_path / "bench", "other", rng.integers(0, 256, (24, 20, 3), dtype=np.uint8))
    save(tmp_path / "train", "fine", rng.integers(0, 256, (24, 20, 3), dtype=np.uint8))
    train, _ = training_pictures([tmp_path / "train"])
    check_unseen(train, [tmp_path / "val"], [tmp_path / "bench"])  # same size, other pixels: accepted
    save(tmp_path / "train", "copy", np.repeat(grey[..., None], 3, axis=2))  # the grey image as RGB
    train, _ = training_pictures([tmp_path / "train"], in_memory_bytes=0)
    with pytest.raises(InputError, match=r"train/copy\.png has the same pixels as .* image \S*val/bridge\.png"):
        check_unseen(train, [tmp_path / "val"])
    Image.open(tmp_path / "bench" / "other.png").save(tmp_path / "train" / "copy.png")  # a benchmark image now
    train, _ = training_pictures([tmp_path / "train"])
    with pytest.raises(InputError, match=r"copy\.png has the same pixels as .*bench/other\.png"):
        check_unseen(train, [tmp_path / "val"], [tmp_path / "bench"])
    check_unseen(train, [tmp_path / "val"])  # not among the held-out images of this run


def test_a_bundled_validation_photo_in_a_training_folder_is_refused(tmp_path):
    name, img = embedded_images(EMBEDDED_VAL[:1])[0]
    save(tmp_path / "train", "cat", img)
    with pytest.raises(InputError, match=rf"cat\.png has the same pixels as .*the bundled photo {name}"):
        check_unseen(training_pictures([tmp_path / "train"])[0], [])


def test_the_data_identity_names_the_folders_and_follows_their_content(tmp_path):
    save(tmp_path / "T91", "a", np.zeros((24, 24, 3), np.uint8))
    save(tmp_path / "BSD", "b", np.zeros((24, 24, 3), np.uint8))
    save(tmp_path / "Set5", "c", np.zeros((24, 24, 3), np.uint8))
    train, val = [tmp_path / "T91", tmp_path / "BSD"], [tmp_path / "Set5"]
    first = data_identity(train, val)
    assert first["train"]["folders"] == ["T91", "BSD"] and first["train"]["images"] == 2
    assert first["val"]["folders"] == ["Set5"] and first["val"]["images"] == 1
    assert not first["bundled"] and data_identity(train, val) == first
    save(tmp_path / "BSD", "b", np.ones((24, 24, 3), np.uint8))  # one file changes
    second = data_identity(train, val)
    assert second["train"]["sha256"] != first["train"]["sha256"] and second["sha256"] != first["sha256"]
    assert second["val"] == first["val"]
    bundled = data_identity([], [])
    assert bundled["bundled"] and bundled["train"]["folders"] == bundled["val"]["folders"] == [BUNDLED]
    assert bundled["train"]["images"] == len(EMBEDDED_TRAIN) and bundled == data_identity([], [])
    assert not data_identity([], val)["bundled"]


def test_a_bundled_photo_is_decoded_once_and_cannot_be_changed_in_place():
    """Every caller shares one decoded copy per process, so none may write into it."""
    from nas.sr.pictures import embedded_photo

    first, again = embedded_photo("coffee"), embedded_photo("coffee")
    assert first is again and first.dtype == np.uint8 and first.shape[2] == 3
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0, 0] = 0
    left, right = embedded_photo("stereo_motorcycle:0"), embedded_photo("stereo_motorcycle:1")
    assert left is not right and left.shape == right.shape
