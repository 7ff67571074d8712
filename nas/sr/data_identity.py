"""Which data trained and validated a run: folder names, image counts and content hashes, for the record."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from nas.sr.images import list_images
from nas.sr.pictures import EMBEDDED_TRAIN, EMBEDDED_VAL, Folders, array_digest, embedded_images

BUNDLED = "bundled"  # the bundled photos' folder name in a data identity
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
    if not folders:
        count, sha = _bundled_digest(tuple(bundled))
        return {"folders": [BUNDLED], "images": count, "sha256": sha}
    digest = hashlib.sha256()
    files = [p for folder in folders for p in list_images(folder)]
    for path in files:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    names = [Path(f).name for f in folders]
    return {"folders": names, "images": len(files), "sha256": digest.hexdigest()[:DATA_HASH_CHARS]}


@lru_cache(maxsize=4)
def _bundled_digest(bundled: tuple[str, ...]) -> tuple[int, str]:
    """The bundled photos' count and short hash, their decoded pixels hashed once per process (they never change)."""
    digest = hashlib.sha256()
    images = embedded_images(bundled)
    for _, img in images:
        digest.update(array_digest(img))
    return len(images), digest.hexdigest()[:DATA_HASH_CHARS]


def describe_data(identity: Mapping[str, Any]) -> str:
    """A data identity in a few words: ``train T91+BSD200 (291 images, 1a2b3c4d5e6f), val Set5 (...)``."""
    return ", ".join(
        f"{side} {'+'.join(identity[side]['folders'])} ({identity[side]['images']} images, {identity[side]['sha256']})"
        for side in ("train", "val")
    )
