"""``python -m nas.evaluate``: PSNR/SSIM of bicubic or of a model on folders of HR images.

The protocol is ``nas.sr.evaluation``'s (modcrop, MATLAB bicubic, Y channel, border = scale).  Each
``--data`` folder is an image set of its own (Set5, Set14, ...), scored apart; ``--bicubic-gain`` scores
bicubic beside the model on the same images and prints the gain.

Examples::

    python -m nas.evaluate --data Set5 --scale 4 --bicubic
    python -m nas.evaluate --data Set14 --scale 2 --arch ms3.json --weights ckpt.pt --json --device cuda
    python -m nas.evaluate --data Set5 --data Set14 --scale 4 --arch ms3.json --weights ckpt.pt --bicubic-gain
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nas.cli import Parser, UsageError, run_cli
from nas.measure.memory import check_memory
from nas.sr.evaluation import (
    SCALES,
    EvalResult,
    GainResult,
    ImageScore,
    UpscaleFn,
    compare_folder,
    evaluate_folder,
    load_model,
    model_upscaler,
)
from space import ArchSpec, load_spec
from space.cost import coarsest_step


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.evaluate", description="PSNR/SSIM (Y, border = scale) on folders of HR images.")
    p.add_argument(
        "--data",
        action="append",
        required=True,
        help="folder of HR images (PNG, JPEG, BMP, TIFF); repeatable, each folder scored as a set of its own",
    )
    p.add_argument("--scale", type=int, required=True, choices=SCALES, help="upscale factor: 2, 3 or 4")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--bicubic", action="store_true", help="evaluate MATLAB bicubic upsampling")
    mode.add_argument("--arch", metavar="SPEC.json", help="evaluate the network of this spec (needs --weights)")
    p.add_argument("--weights", metavar="CKPT", help="torch.save file: a state_dict or a dict with key 'model'")
    p.add_argument(
        "--bicubic-gain", action="store_true", help="with --arch: also score bicubic on the same images, and the gain"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the model runs (default cpu)")
    return p.parse_args(argv)


def upscaler_from_args(args: argparse.Namespace) -> UpscaleFn | None:
    """None for --bicubic, else the checked model wrapped as an upscaler."""
    if args.bicubic:
        if args.weights is not None:
            raise UsageError("--weights needs --arch, not --bicubic")
        if args.bicubic_gain:
            raise UsageError("--bicubic-gain needs --arch (a model to compare with bicubic), not --bicubic")
        return None
    if args.weights is None:
        raise UsageError("--arch needs --weights")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    spec = load_spec(Path(args.arch))
    if spec.upscale != args.scale:
        raise UsageError(f"--scale {args.scale} but {args.arch} describes an x{spec.upscale} network")
    return within_memory(spec, model_upscaler(load_model(spec, Path(args.weights)), args.device), args.device)


def within_memory(spec: ArchSpec, upscale: UpscaleFn, device: str) -> UpscaleFn:
    """``upscale``, refusing (one line naming the image's size) an image whose feature maps cannot fit."""
    step = coarsest_step(spec)

    def checked(lr: np.ndarray) -> np.ndarray:
        h, w = (-(-side // step) * step for side in lr.shape[:2])  # the model pads to a multiple of step
        check_memory(spec, (h, w), 1, False, torch.device(device), "--data")
        return upscale(lr)

    return checked


def report_progress(i: int, n: int, score: ImageScore) -> None:
    print(f"[{i}/{n}] {score.name}: {score.psnr:.2f} dB, SSIM {score.ssim:.4f}", file=sys.stderr)


def result_text(result: EvalResult, data: str, scale: int, mode: str) -> str:
    """A small table: one row per image, then the mean."""
    width = max(len("mean"), *(len(s.name) for s in result.per_image))
    lines = [f"{data} x{scale}, {mode}: {result.n_images} images (Y, border {scale})"]
    lines.append(f"{'image':<{width}}  {'PSNR':>7}  {'SSIM':>6}")
    lines += [f"{s.name:<{width}}  {s.psnr:>7.2f}  {s.ssim:>6.4f}" for s in result.per_image]
    lines.append(f"{'mean':<{width}}  {result.psnr:>7.2f}  {result.ssim:>6.4f}")
    return "\n".join(lines)


def gain_text(result: GainResult, data: str, scale: int) -> str:
    """One row per image (model PSNR and SSIM, bicubic PSNR, gain), then the mean."""
    rows = [(s.name, s, b.psnr) for s, b in zip(result.model.per_image, result.bicubic.per_image, strict=True)]
    width = max(len("mean"), *(len(name) for name, _, _ in rows))
    lines = [f"{data} x{scale}, model against bicubic: {result.model.n_images} images (Y, border {scale})"]
    lines.append(f"{'image':<{width}}  {'PSNR':>7}  {'SSIM':>6}  {'bicubic':>7}  {'gain':>6}")
    lines += [
        f"{name:<{width}}  {s.psnr:>7.2f}  {s.ssim:>6.4f}  {base:>7.2f}  {s.psnr - base:>+6.2f}"
        for name, s, base in rows
    ]
    model, base = result.model, result.bicubic
    lines.append(f"{'mean':<{width}}  {model.psnr:>7.2f}  {model.ssim:>6.4f}  {base.psnr:>7.2f}  {result.gain:>+6.2f}")
    return "\n".join(lines)


def summary_text(results: dict[str, GainResult], scale: int) -> str:
    """Per image set: images, model PSNR, bicubic PSNR, gain (dB)."""
    width = max(len("set"), *(len(data) for data in results))
    lines = [f"x{scale}, mean PSNR (dB) per set, Y, border {scale}"]
    lines.append(f"{'set':<{width}}  {'images':>6}  {'model':>7}  {'bicubic':>7}  {'gain':>6}")
    lines += [
        f"{data:<{width}}  {r.model.n_images:>6}  {r.model.psnr:>7.2f}  {r.bicubic.psnr:>7.2f}  {r.gain:>+6.2f}"
        for data, r in results.items()
    ]
    return "\n".join(lines)


def scored(args: argparse.Namespace, data: str, upscale_fn: UpscaleFn | None) -> EvalResult | GainResult:
    """One ``--data`` folder scored: the model (or bicubic) alone, or with --bicubic-gain both on its images."""
    progress = None if args.json else report_progress
    if args.bicubic_gain and upscale_fn is not None:
        return compare_folder(data, args.scale, upscale_fn, progress)
    return evaluate_folder(data, args.scale, upscale_fn, progress)


def set_text(result: EvalResult | GainResult, data: str, scale: int, mode: str) -> str:
    if isinstance(result, GainResult):
        return gain_text(result, data, scale)
    return result_text(result, data, scale, mode)


def run(args: argparse.Namespace) -> str:
    """Every --data folder scored apart: a table each (and with --bicubic-gain over several sets, a summary), or
    with --json one object per set, one a line."""
    twice = sorted({data for data in args.data if args.data.count(data) > 1})
    if twice:
        raise UsageError(f"--data: {', '.join(twice)} given more than once")
    upscale_fn = upscaler_from_args(args)
    mode = "bicubic" if upscale_fn is None else "model"
    results = {data: scored(args, data, upscale_fn) for data in args.data}
    if args.json:
        return "\n".join(
            json.dumps({**r.as_dict(), "data": data, "scale": args.scale, "mode": mode}) for data, r in results.items()
        )
    texts = [set_text(r, data, args.scale, mode) for data, r in results.items()]
    gains = {data: r for data, r in results.items() if isinstance(r, GainResult)}
    if len(gains) > 1:
        texts.append(summary_text(gains, args.scale))
    return "\n\n".join(texts)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.evaluate", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
