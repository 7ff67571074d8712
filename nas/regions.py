"""``python -m nas.regions``: where trained models differ, region by region (the paper's Section 5).

Each model (and bicubic, always) upscales every HR image of ``--data`` under the evaluation protocol; the
pixels are split into region classes from the HR image alone (flat, edge, detail: see
``nas.sr.region_classes``), and per class the page gives PSNR, SSIM, GMSD and each pair's PSNR difference with a
paired bootstrap interval over images; a gallery shows, per image and class, the crop where the first two
models differ most, and each image shows its tiles' classes over it.  ``--rescale`` repeats the analysis on the HR
images shrunk by each factor first.  ``regions.json`` lists every tile (image, box, class), to audit the classes.

Examples::

    python -m nas.regions --model standard=runs/train/standard --model ms3=runs/train/ms3 \\
        --data Urban100 --scale 4 --out runs/regions --rescale 0.8,0.6,0.5 --json
    python -m nas.regions --model mine=my_spec.json:weights.pt --model ms3=runs/train/ms3 --data Set14 --scale 4
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from nas.cli import Parser, UsageError, bounded, not_a_file, output_folder, run_cli
from nas.files import write_atomically
from nas.output.regions_page import write_page
from nas.sr.evaluation import (
    SCALES,
    UpscaleFn,
    bicubic_upscaler,
    check_images,
    load_model,
    min_side,
    model_upscaler,
)
from nas.sr.images import list_images, load_image
from nas.sr.imresize import imresize_np, output_size
from nas.sr.metrics import quantize
from nas.sr.region_scores import TILE, Measured, RegionAnalysis, analyse, measure_image
from nas.sr.regions_json import as_json
from space import ArchSpec, load_spec

BICUBIC = "bicubic"
WEIGHT_FILES = ("model.pt", "weights.pt", "checkpoint.pt")  # a nas.train folder, then other usual names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.regions", description="Per-region comparison of trained SR models.")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME=SOURCE",
        help="a trained model: NAME=FOLDER (a nas.train output: spec.json and model.pt) or NAME=SPEC.json:WEIGHTS",
    )
    p.add_argument(
        "--data", action="append", required=True, help="folder of HR images (PNG, JPEG, BMP, TIFF); repeatable"
    )
    p.add_argument("--scale", type=int, required=True, choices=SCALES, help="upscale factor: 2, 3 or 4")
    p.add_argument("--out", default="runs/regions", help="folder for regions.html (and regions.json)")
    p.add_argument("--rescale", default="", help="comma-separated factors in (0, 1), e.g. 0.8,0.6,0.5")
    p.add_argument("--tile", type=int, default=TILE, help=f"tile side in HR pixels (default {TILE})")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples per interval (default 2000)")
    p.add_argument(
        "--json", action="store_true", help="also write regions.json (with every tile's image, box and class)"
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the models run (default cpu)")
    return p.parse_args(argv)


def model_source(text: str) -> tuple[str, Path, Path]:
    """(name, spec file, weights file) of one ``--model NAME=SOURCE``."""
    name, sep, source = text.partition("=")
    if not sep or not name or not source:
        raise UsageError(f"--model {text!r}: expected NAME=FOLDER or NAME=SPEC.json:WEIGHTS")
    if name == BICUBIC:
        raise UsageError(f"--model {text!r}: the name {BICUBIC!r} is the baseline's, always included")
    folder = Path(source)
    if folder.is_dir():
        weights = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
        if weights is None or not (folder / "spec.json").is_file():
            raise UsageError(f"--model {name}: {folder} holds no spec.json and {' or '.join(WEIGHT_FILES)}")
        return name, folder / "spec.json", weights
    spec, colon, weights_text = source.rpartition(":")
    if not colon or not spec.endswith(".json"):
        raise UsageError(f"--model {name}: {source} is neither a folder nor SPEC.json:WEIGHTS")
    return name, Path(spec), Path(weights_text)


def factors(text: str) -> list[float]:
    """The --rescale factors, each in (0, 1)."""
    out: list[float] = []
    for item in (t for t in text.split(",") if t.strip()):
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"--rescale: {item!r} is not a number") from None
        if value in out:
            raise UsageError(f"--rescale: {value:g} is given twice")
        out.append(bounded("--rescale", value, 1e-3, 0.999))
    return out


def upscalers(args: argparse.Namespace) -> dict[str, UpscaleFn]:
    """Each model as an upscaler (checked against --scale), then bicubic."""
    out: dict[str, UpscaleFn] = {}
    for text in args.model:
        name, spec_path, weights = model_source(text)
        if name in out:
            raise UsageError(f"--model {name}: given twice")
        spec: ArchSpec = load_spec(spec_path)
        if spec.upscale != args.scale:
            raise UsageError(
                f"--model {name}: --scale {args.scale} but {spec_path} describes an x{spec.upscale} network"
            )
        out[name] = model_upscaler(load_model(spec, weights), args.device)
    out[BICUBIC] = bicubic_upscaler(args.scale)
    return out


def rescaled(img: np.ndarray, factor: float) -> np.ndarray:
    """The HR image shrunk by ``factor`` with the protocol's (MATLAB) bicubic, as the uint8 a PNG would hold."""
    return np.asarray(np.round(quantize(imresize_np(img.astype(np.float64) / 255.0, factor)) * 255.0), np.uint8)


def image_paths(folders: Sequence[str]) -> list[Path]:
    """The images of every --data folder, in order; two of one name are refused (the page names images by file)."""
    paths = [p for folder in folders for p in list_images(folder)]
    names = [p.name for p in paths]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"--data: {', '.join(twice)} found in more than one folder")
    return paths


def check_data(folders: Sequence[str], scale: int, shrink: Sequence[float]) -> None:
    """Every image readable and large enough for ``scale``, also once rescaled: fails now, naming it, not later."""
    for folder in folders:
        check_images(folder, scale)
    for path in image_paths(folders):
        img = load_image(path)
        for factor in shrink:
            h, w = (output_size(side, factor) for side in img.shape[:2])
            if min(h, w) - min(h, w) % scale < min_side(scale):
                raise UsageError(f"--rescale {factor:g}: {path.name} becomes {w}x{h}, too small for x{scale}")


def measure(
    args: argparse.Namespace, fns: dict[str, UpscaleFn], factor: float | None, pair: tuple[str, str] | None
) -> Measured:
    """Every image of --data (rescaled by ``factor`` when given) through every upscaler."""
    measured = Measured(tuple(fns))
    paths = image_paths(args.data)
    label = "" if factor is None else f" (rescaled x{factor:g})"
    for i, path in enumerate(paths, 1):
        img = load_image(path)
        measure_image(
            measured, path.name, img if factor is None else rescaled(img, factor), args.scale, fns, args.tile, pair
        )
        print(f"[{i}/{len(paths)}] {path.name}{label}", file=sys.stderr, flush=True)
    return measured


def run(args: argparse.Namespace) -> str:
    if args.tile < 8:
        raise UsageError(f"--tile {args.tile}: must be at least 8")
    if args.n_boot < 100:
        raise UsageError(f"--n-boot {args.n_boot}: must be at least 100")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    shrink = factors(args.rescale)
    not_a_file("--out", args.out)
    check_data(args.data, args.scale, shrink)
    fns = upscalers(args)
    names = list(fns)
    pairs = list(combinations(names, 2))
    gallery_pair = (names[0], names[1])
    main = analyse(measure(args, fns, None, gallery_pair), pairs, args.n_boot)
    by_factor: dict[float, RegionAnalysis] = {
        f: analyse(measure(args, fns, f, None), pairs, args.n_boot) for f in shrink
    }
    out = output_folder("--out", args.out)
    data = " + ".join(Path(d).name for d in args.data)
    page = write_page(out / "regions.html", main, by_factor, gallery_pair, f"{data} x{args.scale}")
    lines = [f"page: {page}"]
    if args.json:
        path = out / "regions.json"
        write_atomically(path, json.dumps(as_json(main, by_factor), indent=2))
        lines.append(f"json: {path}")
    return "\n".join([*main.summary_lines(), *lines])


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.regions", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
