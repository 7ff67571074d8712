"""``python -m nas.evaluate``: PSNR/SSIM of bicubic or of a model on a folder of HR images.

The protocol is ``nas.sr.evaluation``'s (modcrop, MATLAB bicubic, Y channel, border = scale).

Examples::

    python -m nas.evaluate --data Set5 --scale 4 --bicubic
    python -m nas.evaluate --data Set14 --scale 2 --arch ms3.json --weights ckpt.pt --json --device cuda
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
from nas.sr.evaluation import SCALES, EvalResult, ImageScore, UpscaleFn, evaluate_folder, load_model, model_upscaler
from nas.training.memory import check_memory
from space import ArchSpec, load_spec
from space.cost import coarsest_step


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.evaluate", description="PSNR/SSIM (Y, border = scale) on a folder of HR images.")
    p.add_argument("--data", required=True, help="folder of HR images (PNG, JPEG, BMP, TIFF)")
    p.add_argument("--scale", type=int, required=True, choices=SCALES, help="upscale factor: 2, 3 or 4")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--bicubic", action="store_true", help="evaluate MATLAB bicubic upsampling")
    mode.add_argument("--arch", metavar="SPEC.json", help="evaluate the network of this spec (needs --weights)")
    p.add_argument("--weights", metavar="CKPT", help="torch.save file: a state_dict or a dict with key 'model'")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the model runs (default cpu)")
    return p.parse_args(argv)


def upscaler_from_args(args: argparse.Namespace) -> UpscaleFn | None:
    """None for --bicubic, else the checked model wrapped as an upscaler."""
    if args.bicubic:
        if args.weights is not None:
            raise UsageError("--weights needs --arch, not --bicubic")
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


def run(args: argparse.Namespace) -> str:
    upscale_fn = upscaler_from_args(args)
    mode = "bicubic" if upscale_fn is None else "model"
    result = evaluate_folder(args.data, args.scale, upscale_fn, None if args.json else report_progress)
    if args.json:
        return json.dumps({**result.as_dict(), "scale": args.scale, "mode": mode})
    return result_text(result, args.data, args.scale, mode)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.evaluate", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
