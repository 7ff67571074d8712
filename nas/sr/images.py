"""Benchmark image loading: uint8 RGB (or grey, kept grey) arrays from files, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from nas.errors import InputError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
# Pillow mode -> the mode we keep: grey stays grey (Set14's bridge.png), everything else becomes RGB.
GREY_MODES = frozenset({"1", "L", "LA"})
COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"})


class ImageError(InputError):
    """An image or folder that cannot be evaluated; the message names it, on one line."""


def target_mode(path: Path, mode: str) -> str:
    """'L' or 'RGB' for a Pillow mode; ImageError for modes with no sensible 8-bit form (16-bit, float)."""
    if mode in GREY_MODES:
        return "L"
    if mode in COLOUR_MODES:
        return "RGB"
    raise ImageError(f"{path}: unsupported image mode {mode} (8-bit grey, palette or colour images only)")


def load_image(path: str | Path) -> np.ndarray:
    """A uint8 HxWx3 array (colour, palette and alpha images as RGB) or HxW (grey stays grey) from a file."""
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{p}: no such image file")
    try:
        with Image.open(p) as im:
            im.load()
            arr = np.asarray(im.convert(target_mode(p, im.mode)), dtype=np.uint8)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ImageError(f"{p}: cannot read image ({reason})") from None
    if arr.size == 0:
        raise ImageError(f"{p}: empty image (shape {arr.shape})")
    return arr


def list_images(folder: str | Path) -> list[Path]:
    """The PNG/JPEG/BMP/TIFF files directly in ``folder``, sorted by name (extensions in any case)."""
    root = Path(folder)
    if not root.is_dir():
        raise ImageError(f"{root}: no such folder")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"{root}: no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def to_float(img: np.ndarray) -> np.ndarray:
    """A uint8 image as float64 in [0, 1], the range the resize, the metrics and the models work in."""
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise ValueError(f"to_float: expected a uint8 image, got {arr.dtype}")
    return arr.astype(np.float64) / 255.0
