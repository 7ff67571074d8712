"""Held-out images: the validation set of a run, and the check that no training image is one of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nas.errors import InputError
from nas.sr.images import ImageError, list_images, load_image
from nas.sr.pictures import EMBEDDED_VAL, Folders, NamedImage, Picture, array_digest, embedded_images, file_pictures


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
    seen = {array_digest(p.decoded()): p for p in held_out if (p.height, p.width) in sizes}
    for pic in train:
        twin = seen.get(array_digest(pic.decoded())) if (pic.height, pic.width) in sizes else None
        if twin is not None:
            raise InputError(
                f"training image {pic.where} has the same pixels as the validation or benchmark image {twin.where}:"
                " a benchmark must not be trained on; remove it from the training folder"
            )
