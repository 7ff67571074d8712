"""Where a point's label goes: beside its marker, clear of the other labels and markers where it can be."""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels

# Label boxes relative to the marker, in pixels (x right, y up), for a text of width w and height h.
PLACES = {
    "top center": lambda w, h: (-w / 2, 6, w / 2, 6 + h),
    "bottom center": lambda w, h: (-w / 2, -6 - h, w / 2, -6),
    "middle right": lambda w, h: (8, -h / 2, 8 + w, h / 2),
    "middle left": lambda w, h: (-8 - w, -h / 2, -8, h / 2),
    "top right": lambda w, h: (4, 4, 4 + w, 4 + h),
    "bottom left": lambda w, h: (-4 - w, -4 - h, -4, -4),
    "top left": lambda w, h: (-4 - w, 4, -4, 4 + h),
    "bottom right": lambda w, h: (4, -4 - h, 4 + w, -4),
}
PLOT_PX = (280.0, 260.0)  # a dashboard card's plot area, the smallest the figure is drawn at
CHAR_PX, LINE_PX, MARKER_PX = 7.0, 16.0, 6.0


def label_positions(
    xy: Sequence[tuple[float, float]], texts: Sequence[str], y_range: Sequence[float] | None = None
) -> list[str]:
    """A text position per point so that labels miss each other and the markers where they can (greedy, named
    and higher points first); estimated at a card's plot size, so a wider page only spreads them further.
    ``y_range`` is the drawn y axis (default: the points' own range)."""
    pixels = to_pixels(xy, y_range)
    markers = [(x - MARKER_PX, y - MARKER_PX, x + MARKER_PX, y + MARKER_PX) for x, y in pixels]
    placed: list[Box] = []
    out = ["top center"] * len(xy)
    for i in sorted(range(len(xy)), key=lambda i: (not texts[i], -xy[i][1])):
        if not texts[i]:
            continue
        x, y = pixels[i]
        boxes = {place: shift(box(len(texts[i]) * CHAR_PX, LINE_PX), x, y) for place, box in PLACES.items()}
        others = placed + [m for j, m in enumerate(markers) if j != i]
        out[i] = min(boxes, key=lambda place: sum(overlap(boxes[place], o) for o in others))
        placed.append(boxes[out[i]])
    return out


def to_pixels(xy: Sequence[tuple[float, float]], y_range: Sequence[float] | None = None) -> list[tuple[float, float]]:
    """Data points in pixels of a PLOT_PX plot spanning their range, or ``y_range`` on y (a zero range counts as
    one pixel)."""
    if not xy:
        return []
    xs, ys = [x for x, _ in xy], [y for _, y in xy]
    y_low, y_high = (min(ys), max(ys)) if y_range is None else (y_range[0], y_range[1])
    x_span, y_span = (max(xs) - min(xs)) or 1.0, (y_high - y_low) or 1.0
    return [(PLOT_PX[0] * (x - min(xs)) / x_span, PLOT_PX[1] * (y - y_low) / y_span) for x, y in xy]


def shift(b: Box, x: float, y: float) -> Box:
    return (b[0] + x, b[1] + y, b[2] + x, b[3] + y)


def overlap(a: Box, b: Box) -> float:
    """The area two boxes share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
