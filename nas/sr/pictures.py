"""Training images: the bundled photos or folders, cut into sub-images, read lazily or decoded into memory.

A ``Picture`` knows its size from the file's header, so a set too large for memory (DIV2K) costs its headers
until a batch needs its pixels; small sets are decoded once (``training_pictures``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from nas.errors import InputError
from nas.processes import remove_stale_staging
from nas.sr.images import ImageError, list_images, load_image, target_mode

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
SUBIMAGE_SIZE, SUBIMAGE_STRIDE = 480, 240
# Training sets whose decoded pixels fit in this are decoded once into memory: read lazily through the
# 128-image cache of ``_read_rgb``, a set of a few hundred images (T91 + BSD200) is decoded anew every batch.
IN_MEMORY_BYTES = 2 * 2**30


def as_rgb(img: np.ndarray) -> np.ndarray:
    """Grey images become three equal channels for training (evaluation keeps them grey)."""
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def embedded_images(names: Sequence[str]) -> list[NamedImage]:
    """Photos that ship with scikit-image, so a fresh install trains offline."""
    return [(name.replace(":", "_"), embedded_photo(name)) for name in names]


@lru_cache(maxsize=len(EMBEDDED_TRAIN) + len(EMBEDDED_VAL))
def embedded_photo(name: str) -> np.ndarray:
    """One bundled photo (``name`` or ``name:index`` of a pair), decoded once per process and read-only: a training
    command read the 14 photos several times over (34 PNG decodes, a quarter of a second, every time)."""
    import skimage.data

    base, _, index = name.partition(":")
    img = getattr(skimage.data, base)()
    if isinstance(img, tuple):
        img = img[int(index or 0)]
    rgb = as_rgb(np.array(img, dtype=np.uint8))
    rgb.flags.writeable = False
    return rgb


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


def array_digest(img: np.ndarray) -> bytes:
    """A digest of an image's shape and pixels: equal images, equal digests (held-out checks, data identity)."""
    return hashlib.sha256(f"{img.shape}".encode() + np.ascontiguousarray(img).tobytes()).digest()
