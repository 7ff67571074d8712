"""``regions.html``: one offline page of per-class tables, a bar chart of differences and a gallery of crops."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
from PIL import Image

from nas.files import write_atomically
from nas.sr.region_classes import (
    CLASSES,
    EDGE_COHERENCE,
    EDGE_SPARSITY,
    FLAT_GRADIENT,
    MIN_ALTERNATIONS,
    MIN_REPEAT,
    SPARSE_SHARE,
)
from nas.sr.region_scores import ALL, Crop, Measured, PairDifference, RegionAnalysis

ZOOM = 4  # crops are enlarged by nearest neighbour, so every pixel stays visible
MIN_ERROR_RANGE = 2.0  # Y levels: the difference map's saturation never drops below this, so rounding stays white
CLASS_COLOURS = {"flat": (70, 130, 230), "edge": (250, 200, 0), "detail": (220, 40, 200)}
OVERLAY_ALPHA = 110  # of 255: the image stays readable under its classes
VIEW_QUALITY = 85  # JPEG quality of each image's view under its classes (the crops stay PNG: every pixel counts)
STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 80em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.crops { display: flex; flex-wrap: wrap; gap: 0.6em; margin-bottom: 1em; }
.views { display: flex; flex-wrap: wrap; gap: 0.8em; }
.view { position: relative; display: inline-block; }
.view img { display: block; }
.view img.classes { position: absolute; left: 0; top: 0; image-rendering: pixelated; }
#show-classes:not(:checked) ~ .views img.classes { display: none; }
.swatch { display: inline-block; width: 1em; height: 1em; vertical-align: middle; margin: 0 0.3em 0 0.8em; }
figure { margin: 0; text-align: center; font-size: 0.85em; }
figure img { image-rendering: pixelated; display: block; }
"""


def png_uri(rgb: npt.NDArray[np.uint8]) -> str:
    """A data: URI of an RGB uint8 image as PNG, so the page needs no other file."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def error_range(worse_a: npt.NDArray[np.float64], worse_b: npt.NDArray[np.float64]) -> float:
    """The difference (Y levels) at which a crop's map saturates: its largest, so every crop uses its full colour
    range (two trained networks differ by a few levels, which a fixed scale of 32 left near white)."""
    return max(MIN_ERROR_RANGE, float(np.max(np.abs(worse_a - worse_b), initial=0.0)))


def difference_map(
    worse_a: npt.NDArray[np.float64], worse_b: npt.NDArray[np.float64], scale: float | None = None
) -> npt.NDArray[np.uint8]:
    """|error of a| - |error of b| as colour: red where a errs more, blue where b does, white where they agree;
    full colour at ``scale`` levels (by default the crop's largest difference)."""
    scale = error_range(worse_a, worse_b) if scale is None else scale
    d = np.clip((worse_a - worse_b) / scale, -1.0, 1.0)
    rgb = np.ones((*d.shape, 3))
    rgb[..., 1] -= np.abs(d)
    rgb[..., 2] -= np.clip(d, 0.0, 1.0)
    rgb[..., 0] -= np.clip(-d, 0.0, 1.0)
    return np.asarray(np.round(rgb * 255.0), dtype=np.uint8)


def figure_html(uri: str, caption: str, height: int, width: int) -> str:
    return (
        f'<figure><img src="{uri}" width="{width * ZOOM}" height="{height * ZOOM}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def crop_html(crop: Crop, pair: tuple[str, str]) -> str:
    """HR, every upscaler's crop with its PSNR on the crop, and the pair's error-difference map, side by side."""
    h, w = crop.rgb["hr"].shape[:2]
    y0, _, x0, _ = crop.box
    parts = [figure_html(png_uri(crop.rgb["hr"]), "HR", h, w)]
    parts += [figure_html(png_uri(crop.rgb[u]), f"{u} {crop.psnr[u]:.2f} dB", h, w) for u in crop.psnr]
    a, b = pair
    levels = error_range(crop.error[a], crop.error[b])
    caption = f"red: {a} worse, blue: {b} (full colour at {levels:.0f} Y levels)"
    parts.append(figure_html(png_uri(difference_map(crop.error[a], crop.error[b], levels)), caption, h, w))
    gap = crop.psnr[a] - crop.psnr[b]
    title = f"{crop.image}, {crop.region} (tile at row {y0}, column {x0}): {a} - {b} = {gap:+.2f} dB"
    return f'<h3>{html.escape(title)}</h3>\n<div class="crops">{"".join(parts)}</div>'


def scores_table(analysis: RegionAnalysis) -> str:
    """Per class: share of pixels, tiles, then PSNR / SSIM / GMSD of each upscaler."""
    ups = analysis.measured.upscalers
    head = "<tr><th>class</th><th>share</th><th>tiles</th>" + "".join(
        f"<th>{html.escape(u)} PSNR</th><th>SSIM</th><th>GMSD</th>" for u in ups
    )
    rows = []
    for region, scores in analysis.per_class.items():
        first = next(iter(scores.values()))
        cells = "".join(
            f"<td>{scores[u].psnr:.2f}</td><td>{scores[u].ssim:.4f}</td><td>{scores[u].gmsd:.4f}</td>"
            if u in scores
            else "<td></td><td></td><td></td>"
            for u in ups
        )
        rows.append(f"<tr><td>{region}</td><td>{first.share:.1%}</td><td>{first.tiles}</td>{cells}</tr>")
    return f"<table>{head}</tr>\n" + "\n".join(rows) + "</table>"


def interval_text(d: PairDifference) -> str:
    return d.ci_text()


def pairs_table(pairs: Sequence[PairDifference]) -> str:
    rows = "\n".join(
        f"<tr><td>{html.escape(d.a)} - {html.escape(d.b)}</td><td>{d.region}</td><td>{d.diff:+.3f}</td>"
        f"<td>{interval_text(d)}</td></tr>"
        for d in pairs
    )
    head = "<tr><th>pair</th><th>class</th><th>PSNR difference (dB)</th><th>95 % interval</th></tr>"
    return f"<table>{head}\n{rows}</table>"


def differences_figure(pairs: Sequence[PairDifference]) -> go.Figure:
    """One bar per class for each pair, with its interval as an error bar."""
    fig = go.Figure()
    for a, b in dict.fromkeys((d.a, d.b) for d in pairs):
        mine = [d for d in pairs if (d.a, d.b) == (a, b)]
        highs = [0.0 if d.ci is None else d.ci[1] - d.diff for d in mine]
        lows = [0.0 if d.ci is None else d.diff - d.ci[0] for d in mine]
        fig.add_bar(
            x=[d.region for d in mine],
            y=[d.diff for d in mine],
            name=f"{a} - {b}",
            error_y={"type": "data", "symmetric": False, "array": highs, "arrayminus": lows},
        )
    fig.update_layout(
        title="PSNR difference by region class (dB, 95 % interval)",
        barmode="group",
        yaxis_title="dB",
        height=420,
        margin={"t": 60},
    )
    return fig


def rules_text() -> str:
    return (
        f"Tiles are classed from the HR image alone: flat when the smoothed gradient stays under {FLAT_GRADIENT:g} "
        f"levels per pixel (95th percentile); detail when the profile across the tile alternates at least "
        f"{MIN_ALTERNATIONS} times (three lines or more) and the structure repeats (autocorrelation peak of at least "
        f"{MIN_REPEAT:g}) or shares one orientation; edge when one orientation dominates the gradients (coherence at "
        f"least {EDGE_COHERENCE:g}) or {EDGE_SPARSITY:.0%} of the gradient energy lies in {SPARSE_SHARE:.0%} of the "
        f"pixels; detail otherwise (texture). '{ALL}' is every evaluated pixel. Intervals are paired bootstrap "
        "percentiles that resample images with their tiles."
    )


def class_overlay(measured: Measured, index: int, shape: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """RGBA of one image's tile classes at the size of its view: each tile in its class's colour, its top and left
    edges more opaque so that neighbouring tiles of one class stay apart."""
    frame_h, frame_w = measured.frames[index]
    fy, fx = shape[0] / frame_h, shape[1] / frame_w
    out = np.zeros((*shape, 4), dtype=np.uint8)
    for (y0, y1, x0, x1), c in zip(measured.boxes[index], measured.classes[index], strict=True):
        r0, r1, c0, c1 = round(y0 * fy), round(y1 * fy), round(x0 * fx), round(x1 * fx)
        out[r0:r1, c0:c1] = (*CLASS_COLOURS[CLASSES[int(c)]], OVERLAY_ALPHA)
        out[r0:r1, c0, 3] = out[r0, c0:c1, 3] = min(255, 2 * OVERLAY_ALPHA)
    return out


def jpeg_uri(rgb: npt.NDArray[np.uint8]) -> str:
    """A data: URI of an RGB photo as JPEG: the page holds a view of every image, and PNG is far larger for photos."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=VIEW_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def rgba_uri(rgba: npt.NDArray[np.uint8]) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")  # (h, w, 4) uint8: RGBA
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def classes_section(measured: Measured) -> str:
    """Each image with its tiles' classes over it (a checkbox hides them), so the classes can be checked by eye."""
    legend = "".join(f'<span class="swatch" style="background: rgb{CLASS_COLOURS[c]}"></span>{c}' for c in CLASSES)
    views = []
    for k, name in enumerate(measured.images):
        view = measured.views.get(name)
        if view is None:
            continue
        h, w = view.shape[:2]
        views.append(
            f'<figure class="view"><img src="{jpeg_uri(view)}" width="{w}" height="{h}" alt="{html.escape(name)}">'
            f'<img class="classes" src="{rgba_uri(class_overlay(measured, k, (h, w)))}" width="{w}" height="{h}" '
            f'alt="classes of {html.escape(name)}"><figcaption>{html.escape(name)}</figcaption></figure>'
        )
    if not views:
        return ""
    return (
        "<h2>Region classes of each image</h2>\n"
        '<input type="checkbox" id="show-classes" checked> <label for="show-classes">show the classes</label>'
        f"{legend}\n" + f'<div class="views">{"".join(views)}</div>'
    )


def write_page(
    path: Path, main: RegionAnalysis, rescaled: Mapping[float, RegionAnalysis], pair: tuple[str, str], data: str
) -> Path:
    """The page, written beside and then renamed; plotly.js is inline so it opens offline."""
    n = len(main.measured.images)
    body = [
        f"<h1>Regions: {html.escape(data)}</h1>",
        f"<p>{n} images; upscalers {', '.join(html.escape(u) for u in main.measured.upscalers)}. "
        f"{html.escape(rules_text())}</p>",
        "<h2>Per class</h2>",
        scores_table(main),
        differences_figure(main.pairs).to_html(full_html=False, include_plotlyjs=True, div_id="differences"),
        "<h2>Paired differences</h2>",
        pairs_table(main.pairs),
    ]
    for factor, analysis in rescaled.items():
        body += [f"<h2>HR rescaled by {factor:g}</h2>", scores_table(analysis), pairs_table(analysis.pairs)]
    body.append(classes_section(main.measured))
    body.append(f"<h2>Gallery: where {html.escape(pair[0])} and {html.escape(pair[1])} differ most, per class</h2>")
    order = {c: i for i, c in enumerate(CLASSES)}
    for crop in sorted(main.measured.crops, key=lambda c: (main.measured.images.index(c.image), order[c.region])):
        body.append(crop_html(crop, pair))
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Regions: {html.escape(data)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    write_atomically(path, page)
    return path
