"""Training data for SR: HR images from folders (or the bundled default), sub-images, random patches.

Batches are a pure function of ``(seed, iteration)``: every architecture trained
with one seed sees the same crops, flips and order (common random numbers, so
two trials differ only by their architecture), and a resumed run needs nothing
but the iteration number to continue exactly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from nas.errors import InputError
from nas.processes import remove_stale_staging
from nas.sr.images import ImageError, list_images, load_image, target_mode
from nas.sr.imresize import imresize_torch

NamedImage = tuple[str, np.ndarray]  # (name, uint8 H x W x 3)
Folders = Sequence[str | Path]  # image folders, taken together in order; none: the bundled photos

# scikit-image's bundled photos (no download). Validation images share no scene with training ones.
EMBEDDED_TRAIN = (
    "astronaut",
    "rocket",
    "stereo_motorcycle:0",
    "stereo_motorcycle:1",
    "immunohistochemistry",
    "hubble_deep_field",
    "camera",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
)
EMBEDDED_VAL = ("chelsea", "coffee")
BUNDLED = "bundled"  # the bundled photos' folder name in a data identity
SUBIMAGE_SIZE, SUBIMAGE_STRIDE = 480, 240
# Training sets whose decoded pixels fit in this are decoded once into memory: read lazily through the
# 128-image cache of ``_read_rgb``, a set of a few hundred images (T91 + BSD200) is decoded anew every batch.
IN_MEMORY_BYTES = 2 * 2**30


def as_rgb(img: np.ndarray) -> np.ndarray:
    """Grey images become three equal channels for training (evaluation keeps them grey)."""
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def embedded_images(names: Sequence[str]) -> list[NamedImage]:
    """Photos that ship with scikit-image, so a fresh install trains offline."""
    import skimage.data

    out = []
    for name in names:
        base, _, index = name.partition(":")
        img = getattr(skimage.data, base)()
        if isinstance(img, tuple):
            img = img[int(index or 0)]
        out.append((name.replace(":", "_"), as_rgb(np.asarray(img, dtype=np.uint8))))
    return out


def folder_images(folder: str | Path) -> list[NamedImage]:
    """Every image of a folder as RGB uint8; a bad file raises ImageError naming it."""
    return [(p.stem, as_rgb(load_image(p))) for p in list_images(folder)]


def subimage_boxes(h: int, w: int, size: int = SUBIMAGE_SIZE, stride: int = SUBIMAGE_STRIDE) -> list[tuple[int, int]]:
    """Top-left corners of size x size crops at a stride, the last row/column flush with the border."""

    def starts(n: int) -> list[int]:
        if n <= size:
            return [0]
        return sorted({*range(0, n - size + 1, stride), n - size})

    return [(y, x) for y in starts(h) for x in starts(w)]


def prepare_subimages(
    folder: str | Path, cache_root: str | Path, size: int = SUBIMAGE_SIZE, stride: int = SUBIMAGE_STRIDE
) -> Path:
    """Cut every HR image into size x size sub-images once (the paper's DIV2K preparation).

    The cache is keyed by the folder's content (each image's name, size and modification time), so
    adding, removing or replacing an image cuts anew.  The cache folder appears only when complete
    (written beside it, then renamed), so an interrupted preparation leaves nothing half-written,
    and staging folders that a killed preparation of this folder left behind are removed here.
    """
    folder = Path(folder).resolve()
    files = list_images(folder)
    content = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    key = hashlib.sha256(f"{folder}|{size}|{stride}|{content}".encode()).hexdigest()[:12]
    target = Path(cache_root) / f"{folder.name}-sub{size}s{stride}-{key}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent, f".{folder.name}-sub{size}s{stride}-")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", dir=target.parent))
    try:
        for path in files:
            img = load_image(path)
            h, w = img.shape[:2]
            for y, x in subimage_boxes(h, w, size, stride):
                crop = img[y : y + size, x : x + size]
                Image.fromarray(crop).save(staging / f"{path.stem}_{y:05d}_{x:05d}.png", compress_level=1)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclass(frozen=True)
class Picture:
    """One training image: in memory, or a file read when first needed (DIV2K does not fit in RAM)."""

    name: str
    height: int
    width: int
    array: np.ndarray | None = field(default=None, compare=False, repr=False)
    path: Path | None = None

    @classmethod
    def of_array(cls, name: str, img: np.ndarray) -> Picture:
        return cls(name, img.shape[0], img.shape[1], as_rgb(img))

    @classmethod
    def of_file(cls, path: Path, name: str | None = None) -> Picture:
        """Size (and a usable mode) from the header only; pixels are decoded when a batch needs them."""
        try:
            with Image.open(path) as im:
                width, height = im.size
                target_mode(path, im.mode)  # 16-bit and float images fail here, not in the middle of a run
        except (OSError, ValueError) as err:
            if isinstance(err, ImageError):
                raise
            raise ImageError(f"{path}: cannot read image ({err.__class__.__name__})") from None
        return cls(name or path.stem, height, width, None, path)

    def pixels(self) -> np.ndarray:
        if self.array is not None:
            return self.array
        assert self.path is not None  # a Picture holds pixels or a file
        return _read_rgb(self.path)

    def decoded(self) -> np.ndarray:
        """The pixels, read past the cache of lazily read files (a one-off read must not evict a batch's)."""
        if self.array is not None:
            return self.array
        assert self.path is not None
        return as_rgb(load_image(self.path))

    @property
    def where(self) -> str:
        """The file, or the bundled photo's name: what an error names."""
        return str(self.path) if self.path is not None else f"the bundled photo {self.name}"


def as_pictures(images: Sequence[NamedImage] | Sequence[Picture]) -> tuple[Picture, ...]:
    """Pictures from in-memory (name, array) pairs; pictures pass through."""
    return tuple(i if isinstance(i, Picture) else Picture.of_array(*i) for i in images)


@lru_cache(maxsize=128)
def _read_rgb(path: Path) -> np.ndarray:
    return as_rgb(load_image(path))


def forget_decoded() -> None:
    """Drop this process's decoded training files (benchmarks time decoding as DIV2K's 32k sub-images need)."""
    _read_rgb.cache_clear()


@dataclass(frozen=True)
class PatchSampler:
    """Random HR patches (and their LR) with flips and 90-degree rotations, reproducible by index.

    ``patch`` is the LR patch side; HR crops are ``patch * scale``.  Images are
    drawn in proportion to their area, as uniform sampling of sub-images would.
    LR patches are MATLAB-style bicubic downsamplings of the HR crops, or, when
    ``lr_pictures`` are given (pre-made LR images), the aligned crops of those.
    """

    pictures: tuple[Picture, ...]
    scale: int
    patch: int
    batch: int
    seed: int
    quantize_lr: bool = False  # the evaluation protocol that matches published numbers keeps LR in float
    lr_pictures: tuple[Picture, ...] | None = None
    shard: tuple[int, int] = (0, 1)  # (rank, world size): this rank's slice of each global batch (DDP)

    def __post_init__(self) -> None:
        if not self.pictures:
            raise ImageError("no training images")
        rank, world = self.shard
        if not 0 <= rank < world or self.batch % world:
            raise ValueError(f"shard: rank {rank} of {world} cannot take an equal slice of a batch of {self.batch}")
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale: {self.scale} (allowed: 2, 3, 4)")
        hr = self.patch * self.scale
        for pic in self.pictures:
            if min(pic.height, pic.width) < hr:
                where = pic.path if pic.path is not None else pic.name
                raise ImageError(f"{where}: {pic.width}x{pic.height} is smaller than the {hr}x{hr} HR patch")
        if self.lr_pictures is not None:
            _check_pairs(self.pictures, self.lr_pictures, self.scale)

    @classmethod
    def from_images(
        cls,
        images: Sequence[NamedImage] | Sequence[Picture],
        scale: int,
        patch: int,
        batch: int,
        seed: int,
        quantize_lr: bool = False,
    ) -> PatchSampler:
        return cls(as_pictures(images), scale, patch, batch, seed, quantize_lr)

    @cached_property
    def _weights(self) -> np.ndarray:
        areas = np.array([p.height * p.width for p in self.pictures], dtype=np.float64)
        return areas / areas.sum()

    @property
    def per_rank(self) -> int:
        """Patches this rank takes from each global batch of ``batch``."""
        return self.batch // self.shard[1]

    def crops(self, iteration: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Batch ``iteration`` as uint8 arrays: HR crops, and aligned LR crops when LR images are given.

        The whole global batch is drawn (so it depends on the seed and the iteration only); this rank
        crops its slice ``[rank * per_rank, (rank + 1) * per_rank)`` of it.
        """
        rng = np.random.default_rng([self.seed, iteration])
        picks = rng.choice(len(self.pictures), size=self.batch, p=self._weights)
        s, size = self.scale, self.patch * self.scale
        plan = []
        for k in picks:
            pic = self.pictures[k]
            y = int(rng.integers(0, (pic.height - size) // s + 1)) * s
            x = int(rng.integers(0, (pic.width - size) // s + 1)) * s
            plan.append((int(k), y, x, int(rng.integers(0, 8))))
        first = self.shard[0] * self.per_rank
        hrs, lrs = [], []
        for k, y, x, code in plan[first : first + self.per_rank]:
            hrs.append(augment(self.pictures[k].pixels()[y : y + size, x : x + size], code))
            if self.lr_pictures is not None:
                lr = self.lr_pictures[k].pixels()[y // s : y // s + self.patch, x // s : x // s + self.patch]
                lrs.append(augment(lr, code))
        return np.stack(hrs), (np.stack(lrs) if lrs else None)

    def hr_batch(self, iteration: int) -> np.ndarray:
        """The HR crops of batch ``iteration``: uint8, batch x H x W x 3."""
        return self.crops(iteration)[0]

    def batch_at(self, iteration: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) float tensors in [0, 1], N x 3 x h x w, for one iteration."""
        hr_np, lr_np = self.crops(iteration)
        return self.pair(torch.from_numpy(hr_np), None if lr_np is None else torch.from_numpy(lr_np), device)

    def pair(
        self, hr: torch.Tensor, lr: torch.Tensor | None, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) float tensors on ``device`` from uint8 crops; LR is made there when no LR images are given
        (bicubic on the training device: a GPU does it faster than the data workers could)."""
        hr_f = _to_tensor(hr, device)
        if lr is not None:
            return _to_tensor(lr, device), hr_f
        lr_f = imresize_torch(hr_f, 1 / self.scale).clamp_(0, 1)
        if self.quantize_lr:
            lr_f = lr_f.mul_(255).round_().div_(255)
        return lr_f, hr_f


def _to_tensor(batch: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    return batch.to(device, non_blocking=batch.is_pinned()).permute(0, 3, 1, 2).float().div_(255)


def _check_pairs(hr: tuple[Picture, ...], lr: tuple[Picture, ...], scale: int) -> None:
    if len(hr) != len(lr):
        raise ImageError(f"{len(hr)} HR images but {len(lr)} LR images")
    for h, low in zip(hr, lr, strict=True):
        if (low.height, low.width) != (h.height // scale, h.width // scale):
            raise ImageError(
                f"{low.name}: LR {low.width}x{low.height} does not match HR {h.name} {h.width}x{h.height} at x{scale}"
            )


def augment(img: np.ndarray, code: int) -> np.ndarray:
    """One of the 8 flips/rotations of a square patch (code 0 = unchanged)."""
    out = np.rot90(img, code % 4)
    if code >= 4:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def training_images(data: str | Path | None) -> list[NamedImage]:
    """HR training images in memory: a folder, or the bundled photos (small sets; see training_pictures)."""
    if data is None:
        return embedded_images(EMBEDDED_TRAIN)
    return folder_images(data)


def file_pictures(folders: Folders, labels: Sequence[str] | None = None) -> tuple[Picture, ...]:
    """Header-only pictures of every image of ``folders``, in order.  With several folders each name is prefixed
    by its folder's label (default: the folder's name): two images of one name are both kept for training."""
    labels = [Path(f).name for f in folders] if labels is None else labels
    several = len(folders) > 1
    return tuple(
        Picture.of_file(p, f"{label}/{p.stem}" if several else p.stem)
        for folder, label in zip(folders, labels, strict=True)
        for p in list_images(folder)
    )


def source_pictures(folders: Folders) -> tuple[Picture, ...]:
    """The training images themselves (not sub-images): the folders' files, or the bundled photos for none."""
    if not folders:
        return tuple(Picture.of_array(n, i) for n, i in embedded_images(EMBEDDED_TRAIN))
    return file_pictures(folders)


def training_pictures(
    folders: Folders,
    cache_root: str | Path | None = None,
    lr_data: str | Path | None = None,
    scale: int = 4,
    in_memory_bytes: int = IN_MEMORY_BYTES,
) -> tuple[tuple[Picture, ...], tuple[Picture, ...] | None]:
    """HR pictures of every folder (cut into sub-images when a cache is given), and pre-made LR ones if any.

    Sets whose decoded pixels fit in ``in_memory_bytes`` are decoded once into memory; larger ones (DIV2K)
    are read on demand.  With ``lr_data`` (one HR folder only), each HR image ``NAME`` pairs with ``NAME``
    or ``NAMExSCALE`` (DIV2K's naming) there, and whole images are used (sub-images would need cutting the
    LR alike).
    """
    if not folders:
        return source_pictures(folders), None
    lr: tuple[Picture, ...] | None = None
    if lr_data is not None:
        hr, lr = _paired_with_lr(folders, lr_data, scale)
    elif cache_root is not None:
        hr = file_pictures([prepare_subimages(f, cache_root) for f in folders], [Path(f).name for f in folders])
    else:
        hr = file_pictures(folders)
    if decoded_bytes((*hr, *(lr or ()))) <= in_memory_bytes:
        hr, lr = into_memory(hr), None if lr is None else into_memory(lr)
    return hr, lr


def _paired_with_lr(
    folders: Folders, lr_data: str | Path, scale: int
) -> tuple[tuple[Picture, ...], tuple[Picture, ...]]:
    if len(folders) != 1:
        raise InputError(f"LR images ({lr_data}) pair with one HR folder, not {len(folders)}: give one HR folder")
    hr_paths = list_images(folders[0])
    lr_by_stem = {p.stem: p for p in list_images(lr_data)}
    lr_paths = []
    for p in hr_paths:
        match = lr_by_stem.get(p.stem) or lr_by_stem.get(f"{p.stem}x{scale}")
        if match is None:
            raise ImageError(f"{p}: no LR image {p.stem} or {p.stem}x{scale} in {lr_data}")
        lr_paths.append(match)
    return tuple(Picture.of_file(p) for p in hr_paths), tuple(Picture.of_file(p) for p in lr_paths)


def decoded_bytes(pictures: Sequence[Picture]) -> int:
    """What the pictures take decoded as RGB uint8 (known from their headers)."""
    return sum(p.height * p.width * 3 for p in pictures)


def into_memory(pictures: Sequence[Picture]) -> tuple[Picture, ...]:
    """The pictures with their pixels decoded once (each file read now, not again per batch)."""
    return tuple(replace(p, array=p.decoded()) for p in pictures)


def validation_files(folders: Folders) -> list[Path]:
    """Every image of the validation folders; two of one name are refused (per-image PSNRs are keyed by name)."""
    seen: dict[str, Path] = {}
    paths = [p for folder in folders for p in list_images(folder)]
    for p in paths:
        if p.stem in seen:
            raise ImageError(
                f"validation images {seen[p.stem]} and {p} share the name {p.stem!r} (per-image PSNRs are"
                " recorded by image name): rename one"
            )
        seen[p.stem] = p
    return paths


def validation_images(folders: Folders) -> list[NamedImage]:
    """HR validation images (kept grey if grey) of every folder, or the bundled validation photos for none."""
    if not folders:
        return embedded_images(EMBEDDED_VAL)
    return [(p.stem, load_image(p)) for p in validation_files(folders)]


def check_unseen(train: Sequence[Picture], val: Folders, bench: Folders = ()) -> None:
    """Refuse a training image whose decoded pixels are a validation or benchmark image's (InputError naming
    both): a benchmark that trains measures memory.  Only images of one size are decoded and hashed, so a
    large training set read on demand costs its headers."""
    bundled = () if val else tuple(Picture.of_array(n, i) for n, i in embedded_images(EMBEDDED_VAL))
    held_out = (*bundled, *file_pictures([*val, *bench]))
    sizes = {(p.height, p.width) for p in held_out} & {(p.height, p.width) for p in train}
    if not sizes:
        return
    seen = {_pixel_digest(p): p for p in held_out if (p.height, p.width) in sizes}
    for pic in train:
        twin = seen.get(_pixel_digest(pic)) if (pic.height, pic.width) in sizes else None
        if twin is not None:
            raise InputError(
                f"training image {pic.where} has the same pixels as the validation or benchmark image {twin.where}:"
                " a benchmark must not be trained on; remove it from the training folder"
            )


DATA_HASH_CHARS = 12


def data_identity(train: Folders, val: Folders) -> dict[str, Any]:
    """Which data trained and validated a run, for the record: each side's folder names, image count and a short
    content hash (sha256 over the image files' bytes in the order they are read; the bundled photos' decoded
    pixels), and ``sha256`` over both sides.  ``bundled`` is true when both sides are the bundled photos; the
    study layer tells runs on other data apart by these two fields (``nas.study.companion.data_key``)."""
    sides = {"train": _side_identity(train, EMBEDDED_TRAIN), "val": _side_identity(val, EMBEDDED_VAL)}
    both = hashlib.sha256("|".join(side["sha256"] for side in sides.values()).encode()).hexdigest()
    return {**sides, "bundled": not train and not val, "sha256": both[:DATA_HASH_CHARS]}


def _side_identity(folders: Folders, bundled: Sequence[str]) -> dict[str, Any]:
    digest = hashlib.sha256()
    if folders:
        files = [p for folder in folders for p in list_images(folder)]
        for path in files:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        names, count = [Path(f).name for f in folders], len(files)
    else:
        images = embedded_images(bundled)
        for _, img in images:
            digest.update(_array_digest(img))
        names, count = [BUNDLED], len(images)
    return {"folders": names, "images": count, "sha256": digest.hexdigest()[:DATA_HASH_CHARS]}


def describe_data(identity: Mapping[str, Any]) -> str:
    """A data identity in a few words: ``train T91+BSD200 (291 images, 1a2b3c4d5e6f), val Set5 (...)``."""
    return ", ".join(
        f"{side} {'+'.join(identity[side]['folders'])} ({identity[side]['images']} images, {identity[side]['sha256']})"
        for side in ("train", "val")
    )


def _array_digest(img: np.ndarray) -> bytes:
    return hashlib.sha256(f"{img.shape}".encode() + np.ascontiguousarray(img).tobytes()).digest()


def _pixel_digest(pic: Picture) -> bytes:
    return _array_digest(pic.decoded())


class CropSet(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor | None]]):
    """Item ``i``: batch ``i``'s uint8 crops as tensors (what a data-loader worker makes; pure numpy work)."""

    def __init__(self, sampler: PatchSampler) -> None:
        self.sampler = sampler

    def __getitem__(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        hr, lr = self.sampler.crops(iteration)
        return torch.from_numpy(hr), None if lr is None else torch.from_numpy(lr)


def batches(
    sampler: PatchSampler, start: int, stop: int, device: torch.device, workers: int = 0, prefetch: int = 4
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(LR, HR) of iterations ``start .. stop-1`` in order, the same whatever ``workers`` is.

    With workers, crops are cut in ``workers`` processes, ``prefetch`` batches ahead each, into pinned memory
    when training on CUDA; the LR is made on the training device either way (``PatchSampler.pair``).
    """
    if workers == 0:
        for i in range(start, stop):
            yield sampler.batch_at(i, device)
        return
    loader = torch.utils.data.DataLoader(
        CropSet(sampler),
        batch_size=None,  # an item is a whole batch
        sampler=range(start, stop),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=prefetch,
    )
    for hr, lr in loader:
        yield sampler.pair(hr, lr, device)
