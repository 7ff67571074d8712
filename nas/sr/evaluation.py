"""The standard SR evaluation protocol, and loading trained weights into a spec's network.

modcrop(HR, scale); LR = MATLAB bicubic ``imresize(HR, 1/scale)`` (kept in float, not rounded:
that matches the published numbers best); SR from the LR; PSNR and SSIM on Y with a border of
``scale`` (see :func:`nas.sr.metrics.sr_metrics` for the rounding). Grey images stay grey: bicubic
resizes them as they are, a model gets them as three equal channels and its output is turned back
to grey with Y's own weights (0.299, 0.587, 0.114), so an output of three equal channels is
measured exactly as a grey one.  ``python -m nas.evaluate`` is the command line.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from nas.errors import InputError, one_line
from nas.jsonvalues import finite_or_none
from nas.sr.images import ImageError, list_images, load_image, to_float
from nas.sr.imresize import imresize_np
from nas.sr.metrics import (
    LUMA,
    SSIM_K1,
    SSIM_K2,
    SSIM_SIGMA,
    SSIM_WINDOW,
    Y_OFFSET,
    Y_WEIGHTS,
    modcrop,
    sr_metrics,
    sr_psnr,
)
from space import ArchSpec

SCALES = (2, 3, 4)
UpscaleFn = Callable[[np.ndarray], np.ndarray]


class ImageScore(NamedTuple):
    """One image's result; unpacks as ``(name, psnr, ssim)``."""

    name: str
    psnr: float
    ssim: float


Progress = Callable[[int, int, ImageScore], None]  # (images done, images in all, the latest score)


@dataclass(frozen=True)
class EvalResult:
    """Mean PSNR (dB) and SSIM over a folder, and each image's."""

    psnr: float
    ssim: float
    n_images: int
    per_image: tuple[ImageScore, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers for JSON (a non-finite PSNR, from an exact reconstruction, becomes null)."""
        return {
            "psnr": finite_or_none(self.psnr),
            "ssim": self.ssim,
            "n_images": self.n_images,
            "per_image": [{"name": s.name, "psnr": finite_or_none(s.psnr), "ssim": s.ssim} for s in self.per_image],
        }


def bicubic_upscaler(scale: int) -> UpscaleFn:
    """The baseline: MATLAB bicubic upsampling of the LR image."""
    return lambda lr: imresize_np(lr, scale)


def min_side(scale: int) -> int:
    """The smallest HR side that leaves an SSIM window after cropping a border of ``scale`` on each side."""
    return SSIM_WINDOW + 2 * scale


def prepare_hr(name: str, img: np.ndarray, scale: int) -> np.ndarray:
    """A uint8 HR image as float in [0, 1], modcropped; ImageError naming it when it is too small."""
    hr = modcrop(to_float(img), scale)
    h, w = hr.shape[:2]
    if min(h, w) < min_side(scale):
        raise ImageError(f"{name}: too small for x{scale} ({w}x{h} after modcrop; needs at least {min_side(scale)})")
    return hr


DEGRADED_BYTES = 256 * 2**20  # what ``degraded`` keeps: a search's validation images, not a whole benchmark set
_degraded: OrderedDict[tuple[bytes, tuple[int, ...], str, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()


def degraded(name: str, img: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The prepared HR image and its LR, remembered by content (read-only): a search scores the same validation
    images after every trial, and for a small proxy network their downscale costs as much as its upscale."""
    arr = np.ascontiguousarray(img)
    key = (hashlib.blake2b(arr.tobytes(), digest_size=16).digest(), arr.shape, arr.dtype.str, scale)
    if key in _degraded:
        _degraded.move_to_end(key)
        return _degraded[key]
    hr = prepare_hr(name, arr, scale)
    pair = (hr, imresize_np(hr, 1.0 / scale))
    for a in pair:
        a.setflags(write=False)
    _degraded[key] = pair
    while sum(h.nbytes + lr.nbytes for h, lr in _degraded.values()) > DEGRADED_BYTES and len(_degraded) > 1:
        _degraded.popitem(last=False)
    return pair


def evaluate_image(name: str, img: np.ndarray, scale: int, upscale_fn: UpscaleFn) -> ImageScore:
    """PSNR and SSIM of one uint8 HR image: degrade it by ``1/scale``, upscale with ``upscale_fn``, compare on Y."""
    return score_image(name, *degraded(name, img, scale), scale, upscale_fn)


def score_image(name: str, hr: np.ndarray, lr: np.ndarray, scale: int, upscale_fn: UpscaleFn) -> ImageScore:
    """PSNR and SSIM of ``upscale_fn(lr)`` against the prepared HR image, on Y with a border of ``scale``."""
    return ImageScore(name, *sr_metrics(hr, upscaled(name, hr, lr, upscale_fn), scale))


def upscaled(name: str, hr: np.ndarray, lr: np.ndarray, upscale_fn: UpscaleFn) -> np.ndarray:
    """``upscale_fn(lr)`` as float, ImageError naming the image unless it has the HR image's shape."""
    sr = np.asarray(upscale_fn(lr), dtype=np.float64)
    if sr.shape != hr.shape:
        raise ImageError(f"{name}: the upscaler returned shape {sr.shape} for HR shape {hr.shape}")
    return sr


Prepared = tuple[tuple[str, np.ndarray, np.ndarray], ...]  # (name, HR, LR) of each image


def prepared(images: Sequence[tuple[str, np.ndarray]], scale: int) -> Prepared:
    """Each named uint8 HR image prepared and degraded once, for scoring one upscaler after another."""
    check_scale(scale)
    if not images:
        raise ImageError("no images to evaluate")
    return tuple((name, *degraded(name, img, scale)) for name, img in images)


def mean_psnr(images: Prepared, scale: int, upscale_fn: UpscaleFn) -> float:
    """The mean PSNR that ``evaluate_images`` gives for the same images (the same number), without SSIM."""
    return float(np.mean([sr_psnr(hr, upscaled(name, hr, lr, upscale_fn), scale) for name, hr, lr in images]))


def check_scale(scale: int) -> None:
    """Raise ValueError unless ``scale`` is a positive integer (modcrop and the border need one)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")


def summarize(scores: Sequence[ImageScore]) -> EvalResult:
    """The mean over images (the published convention) and the per-image scores."""
    return EvalResult(
        psnr=float(np.mean([s.psnr for s in scores])),
        ssim=float(np.mean([s.ssim for s in scores])),
        n_images=len(scores),
        per_image=tuple(scores),
    )


def evaluate_images(
    images: Sequence[tuple[str, np.ndarray]],
    scale: int,
    upscale_fn: UpscaleFn | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Mean and per-image PSNR/SSIM over named uint8 HR images (HxWx3 or grey HxW); None means bicubic."""
    check_scale(scale)
    if not images:
        raise ImageError("no images to evaluate")
    fn = upscale_fn or bicubic_upscaler(scale)
    scores: list[ImageScore] = []
    for name, img in images:
        scores.append(evaluate_image(name, img, scale, fn))
        if progress is not None:
            progress(len(scores), len(images), scores[-1])
    return summarize(scores)


def evaluate_folder(
    folder: str | Path,
    scale: int,
    upscale_fn: UpscaleFn | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Mean and per-image PSNR/SSIM over every image file in ``folder``; ``upscale_fn`` None means bicubic.

    ``upscale_fn`` gets the LR image (float [0, 1], HxWx3 or HxW) and returns the SR image in the
    same layout, ``scale`` times larger; :func:`model_upscaler` makes one from a network.
    ``progress(i, n, score)`` is called after each image. Problems raise ImageError naming the file.
    Images are loaded one at a time, so a large folder never sits in memory at once.
    """
    check_scale(scale)
    fn = upscale_fn or bicubic_upscaler(scale)
    paths = list_images(folder)
    scores: list[ImageScore] = []
    for path in paths:
        scores.append(evaluate_image(path.name, load_image(path), scale, fn))
        if progress is not None:
            progress(len(scores), len(paths), scores[-1])
    return summarize(scores)


@dataclass(frozen=True)
class GainResult:
    """A model and bicubic on the same images: their results and the model's gain over bicubic (dB)."""

    model: EvalResult
    bicubic: EvalResult

    @property
    def gain(self) -> float:
        """The mean per-image gain, which is the difference of the means."""
        return self.model.psnr - self.bicubic.psnr

    def as_dict(self) -> dict[str, Any]:
        """The model's result (as :meth:`EvalResult.as_dict`), each image with its bicubic PSNR and gain, and the
        bicubic result beside it."""
        model = self.model.as_dict()
        for row, ours, base in zip(model["per_image"], self.model.per_image, self.bicubic.per_image, strict=True):
            row.update(bicubic_psnr=finite_or_none(base.psnr), gain=finite_or_none(ours.psnr - base.psnr))
        return {**model, "bicubic": self.bicubic.as_dict(), "gain": finite_or_none(self.gain)}


def compare_folder(
    folder: str | Path, scale: int, upscale_fn: UpscaleFn, progress: Progress | None = None
) -> GainResult:
    """``upscale_fn`` and bicubic on every image of ``folder``, each image read and degraded once; ``progress``
    gets the model's score after each image."""
    check_scale(scale)
    bicubic = bicubic_upscaler(scale)
    paths = list_images(folder)
    model: list[ImageScore] = []
    base: list[ImageScore] = []
    for path in paths:
        hr = prepare_hr(path.name, load_image(path), scale)
        lr = imresize_np(hr, 1.0 / scale)
        model.append(score_image(path.name, hr, lr, scale, upscale_fn))
        base.append(score_image(path.name, hr, lr, scale, bicubic))
        if progress is not None:
            progress(len(model), len(paths), model[-1])
    return GainResult(summarize(model), summarize(base))


def protocol(scale: int) -> dict[str, Any]:
    """This module's evaluation protocol as data, so that a record (``final.json``) says how its numbers were
    measured."""
    return {
        "scale": scale,
        "hr": f"modcrop to a multiple of {scale}",
        "lr": f"MATLAB bicubic imresize(HR, 1/{scale}), antialiased, kept in float (not rounded)",
        "sr": "clipped to [0, 1] and rounded to 8-bit levels",
        "channel": "Y (MATLAB rgb2ycbcr: offset {:g}, weights {}), rounded to integer levels; grey stays grey".format(
            Y_OFFSET, ", ".join(f"{w:g}" for w in Y_WEIGHTS)
        ),
        "border": scale,
        "psnr": "peak 255",
        "ssim": f"{SSIM_WINDOW}x{SSIM_WINDOW} Gaussian window, sigma {SSIM_SIGMA:g}, K1 {SSIM_K1:g}, K2 {SSIM_K2:g}",
        "mean": "over images",
    }


def check_images(folder: str | Path, scale: int) -> int:
    """Read every image of ``folder`` and check it is large enough for ``scale``: problems fail now, naming the
    file, rather than after a long training; returns how many there are."""
    check_scale(scale)
    paths = list_images(folder)
    for path in paths:
        prepare_hr(str(path), load_image(path), scale)
    return len(paths)


def to_batch(lr: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A 1 x 3 x H x W tensor from an HxWx3 or HxW (grey: three equal channels) float image."""
    rgb = np.repeat(lr[:, :, None], 3, axis=2) if lr.ndim == 2 else lr
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).to(device=device, dtype=dtype)[None]


def from_batch(out: torch.Tensor, grey: bool) -> np.ndarray:
    """The HxWx3 float64 image of a 1 x 3 x H x W output; grey: its channels weighted as in Y."""
    rgb = out[0].permute(1, 2, 0).to(device="cpu", dtype=torch.float64).numpy()
    return rgb @ LUMA if grey else rgb


def model_upscaler(model: nn.Module, device: str | torch.device = "cpu") -> UpscaleFn:
    """An ``upscale_fn`` running ``model`` (moved to ``device``) in eval mode without grad, restoring its mode."""
    dev = torch.device(device)
    model.to(dev)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)

    def upscale(lr: np.ndarray) -> np.ndarray:
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                out = model(to_batch(lr, dtype, dev))
        finally:
            model.train(was_training)
        return from_batch(out, grey=lr.ndim == 2)

    return upscale


def load_failure(err: Exception) -> str:
    """A short reason for a failed ``torch.load`` (torch's own messages are paragraphs of advice)."""
    marker = "WeightsUnpickler error:"
    text = str(err)
    if marker in text:
        detail = next((ln.strip() for ln in text.split(marker, 1)[1].splitlines() if ln.strip()), "")
        return f"not a weights-only torch.save file: {detail}"
    return one_line(err).split(". ")[0]


def read_checkpoint(path: Path) -> Mapping[str, torch.Tensor]:
    """The state_dict in a ``torch.save`` file: ``obj["model"]`` when present, else the object itself."""
    if not path.is_file():
        raise InputError(f"{path}: no such weights file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types for bad files; each is a bad input here
        raise InputError(f"{path}: cannot load weights ({load_failure(err)})") from None
    state = obj["model"] if isinstance(obj, dict) and isinstance(obj.get("model"), dict) else obj
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path}: not a state_dict (nor a dict with a 'model' state_dict)")
    return state


def misfit(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """Why ``state`` does not fit ``model`` ('' when it does): key and shape differences, briefly."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    parts = [
        f"{len(items)} {what} (first: {items[0]})"
        for what, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes))
        if items
    ]
    return "; ".join(parts)


def load_model(spec: ArchSpec, weights: Path) -> nn.Module:
    """The spec's network with the checkpoint's weights; InputError when they do not fit."""
    import backbones  # the network code loads only in model mode

    model = backbones.build_model(spec)
    state = read_checkpoint(weights)
    problem = misfit(model, state)
    if problem:
        raise InputError(f"{weights}: weights do not fit the spec: {problem}")
    model.load_state_dict(state)
    return model
