"""``regions.json``: the per-class scores, the pairs' differences (also for each rescaling) and every tile (image,
box, class), so that a reader can audit which pixels each class held."""

from __future__ import annotations

from collections.abc import Mapping

from nas.jsonvalues import finite_or_none
from nas.sr.region_classes import CLASSES
from nas.sr.region_scores import ALL, Measured, RegionAnalysis

TILE_FRAME = "[y0, y1, x0, x1) in the HR image after modcrop to the scale and a crop of `border` pixels on each side"


def per_class_json(analysis: RegionAnalysis) -> dict[str, dict[str, dict[str, float | int | None]]]:
    return {
        region: {
            u: {
                "psnr": finite_or_none(s.psnr),
                "ssim": finite_or_none(s.ssim),
                "gmsd": finite_or_none(s.gmsd),
                "share": s.share,
                "tiles": s.tiles,
            }
            for u, s in scores.items()
        }
        for region, scores in analysis.per_class.items()
    }


def pairs_json(analysis: RegionAnalysis) -> list[dict[str, object]]:
    return [
        {
            "a": d.a,
            "b": d.b,
            "class": d.region,
            "diff": finite_or_none(d.diff),
            "ci": None if d.ci is None else list(d.ci),  # null: fewer than MIN_IMAGES images
            "images": d.images,
        }
        for d in analysis.pairs
    ]


def tiles_json(measured: Measured) -> list[dict[str, object]]:
    """Every tile of every image: its image, its box in the border-cropped frame and its class."""
    return [
        {"image": name, "box": [int(v) for v in box], "class": CLASSES[int(c)]}
        for name, boxes, classes in zip(measured.images, measured.boxes, measured.classes, strict=True)
        for box, c in zip(boxes, classes, strict=True)
    ]


def as_json(main: RegionAnalysis, rescaled: Mapping[float, RegionAnalysis]) -> dict[str, object]:
    """{models, classes, images, per_class, pairs, rescale: {factor: per_class}, rescale_pairs, border, tile_frame,
    tiles}."""
    return {
        "models": list(main.measured.upscalers),
        "classes": [*CLASSES, ALL],
        "images": list(main.measured.images),
        "per_class": per_class_json(main),
        "pairs": pairs_json(main),
        "rescale": {f"{f:g}": per_class_json(a) for f, a in rescaled.items()},
        "rescale_pairs": {f"{f:g}": pairs_json(a) for f, a in rescaled.items()},
        "border": main.measured.border,
        "tile_frame": TILE_FRAME,
        "tiles": tiles_json(main.measured),
    }
