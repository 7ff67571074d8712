"""Load a page in Chromium and read back what Plotly drew: traces with their points, and every text's box."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser

VIEWPORT = {"width": 1280, "height": 900}  # a laptop screen: the dashboard's cards are half of it
LOAD_MS = 30_000

# Per Plotly figure (a div with .data, the graph div): its traces' point counts, title and every SVG text's box.
READ_FIGURES = """
(selector) => [...document.querySelectorAll(selector)].map(gd => {
  const box = r => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom});
  const kinds = ['gtitle', 'gtitle-subtitle', 'xtick', 'ytick', 'g-xtitle', 'g-ytitle', 'cell-text', 'textpoint',
                 'annotation-text', 'legendtext'];
  const kindOf = el => {
    for (let a = el; a && a !== gd; a = a.parentElement) {
      const found = kinds.find(k => a.classList && a.classList.contains(k));
      if (found) return found;
    }
    return 'other';
  };
  const texts = [...gd.querySelectorAll('svg text')]
    .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0)
    .map(t => ({text: t.textContent, kind: kindOf(t), box: box(t.getBoundingClientRect())}));
  const points = t => ((t.type === 'table' ? t.cells.values[0] : t.type === 'heatmap' ? t.z : t.y) || []).length;
  const title = gd.layout && gd.layout.title;
  return {
    id: gd.id,
    title: (title && (title.text || title)) || '',
    box: box(gd.getBoundingClientRect()),
    traces: (gd._fullData || []).map(t => ({type: t.type, name: t.name || '', points: points(t)})),  // decoded arrays
    texts: texts,
  };
})
"""


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def overlaps(self, other: Box, slack: float = 1.0) -> bool:
        """True when the boxes share more than ``slack`` pixels each way (touching edges do not count)."""
        return (
            min(self.right, other.right) - max(self.left, other.left) > slack
            and min(self.bottom, other.bottom) - max(self.top, other.top) > slack
        )

    def inside(self, other: Box, slack: float = 1.0) -> bool:
        return (
            self.left >= other.left - slack
            and self.top >= other.top - slack
            and self.right <= other.right + slack
            and self.bottom <= other.bottom + slack
        )


@dataclass(frozen=True)
class Text:
    text: str
    kind: str  # the Plotly class it sits in: gtitle, xtick, ytick, cell-text, textpoint, legendtext, ...
    box: Box


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    box: Box
    traces: list[dict[str, Any]]
    texts: list[Text]

    def of_kind(self, *kinds: str) -> list[Text]:
        return [t for t in self.texts if t.kind in kinds]


@dataclass
class Loaded:
    """A page after load: its figures and the console errors and uncaught exceptions it raised."""

    figures: dict[str, Figure]
    text: str  # the page's visible text
    errors: list[str] = field(default_factory=list)


def load(browser: Browser, url: str, selector: str, expected: int) -> Loaded:
    """Open ``url``, wait until ``expected`` figures matching ``selector`` are drawn, read them back."""
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    try:
        page.goto(url, wait_until="load", timeout=LOAD_MS)
        drawn = f"n => document.querySelectorAll('{selector} .main-svg').length >= n"
        page.wait_for_function(drawn, arg=expected, timeout=LOAD_MS)
        page.wait_for_timeout(300)  # let the last relayout (automargin, table scroll bars) settle
        raw = page.evaluate(READ_FIGURES, selector)
        text = page.inner_text("body")
        shots = os.environ.get("MSNAS_BROWSER_SHOTS")  # a folder: full-page screenshots, to look at by eye
        if shots:
            page.screenshot(path=str(Path(shots) / (re.sub(r"\W+", "-", url)[-60:] + ".png")), full_page=True)
    finally:
        page.close()
    figures = {f["id"]: figure(f) for f in raw}
    return Loaded(figures, text, errors)


def figure(raw: dict[str, Any]) -> Figure:
    texts = [Text(t["text"], t["kind"], Box(**t["box"])) for t in raw["texts"]]
    return Figure(raw["id"], raw["title"], Box(**raw["box"]), raw["traces"], texts)


def overlapping(texts: Sequence[Text]) -> Iterator[tuple[Text, Text]]:
    """Every pair of texts whose boxes overlap."""
    return ((a, b) for a, b in combinations(texts, 2) if a.box.overlaps(b.box))


def describe(pairs: Sequence[tuple[Text, Text]]) -> list[str]:
    return [f"{a.kind} {a.text!r} over {b.kind} {b.text!r}" for a, b in pairs]
