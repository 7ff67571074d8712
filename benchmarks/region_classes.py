"""How well the region classifier (``nas.sr.region_classes``) agrees with tiles labelled by eye.

``python -m benchmarks.region_classes [--data ../shared/data] [--labels FILE] [--markdown]``

The labels (``benchmarks/records/2026-12-06-region-classes/labels.csv``, how they were made in the README beside
it) name each tile by its image, the folder of that image under ``--data`` and its box in the classifier's frame
(the HR image modcropped to ``scale`` with ``scale`` pixels cropped from each side, as ``nas.regions`` tiles it).
The tiles were labelled in four classes (``LABELLED``: texture and periodic apart); the classifier has three, texture
and periodic being one class of detail (``AS_CLASS``).  Prints the confusion matrix (rows: the label, columns: the
classifier), each class's recall and precision, for all tiles, the tiles the rules were tuned on, the held-out
images (every third image of each set, in name order), and the tiles not marked ambiguous; then the labeller
against itself (``relabel.csv``: 72 tiles labelled a second time blind), in the classifier's classes and in the
labeller's own four, the level of agreement the labels themselves reach.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nas.sr.evaluation import prepare_hr
from nas.sr.images import load_image
from nas.sr.metrics import crop_border, y_levels
from nas.sr.region_classes import CLASSES, classify_tile

LABELS = Path(__file__).resolve().parent / "records" / "2026-12-06-region-classes" / "labels.csv"
RELABEL = LABELS.with_name("relabel.csv")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HELD_OUT = "held-out"
TUNE = "tune"
LABELLED = ("flat", "edge", "texture", "periodic")  # the classes the tiles were labelled in
AS_CLASS = {"texture": "detail", "periodic": "detail"}  # a label's class in the classifier's CLASSES


def as_class(label: str) -> str:
    return AS_CLASS.get(label, label)


@dataclass(frozen=True)
class Label:
    """One tile labelled by eye."""

    tile: int
    folder: str
    image: str
    scale: int
    frame: tuple[int, int]
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 in the border-cropped frame
    label: str
    ambiguous: bool
    split: str


def read_labels(path: Path = LABELS) -> list[Label]:
    """The labelled tiles of ``path``; a label outside LABELLED or an unknown split is refused."""
    out = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["label"] not in LABELLED or row["split"] not in (TUNE, HELD_OUT):
                raise ValueError(f"{path}: tile {row['tile']}: label {row['label']!r}, split {row['split']!r}")
            out.append(
                Label(
                    tile=int(row["tile"]),
                    folder=row["set"],
                    image=row["image"],
                    scale=int(row["scale"]),
                    frame=(int(row["frame_h"]), int(row["frame_w"])),
                    box=(int(row["y0"]), int(row["y1"]), int(row["x0"]), int(row["x1"])),
                    label=row["label"],
                    ambiguous=row["ambiguous"] == "1",
                    split=row["split"],
                )
            )
    return out


def read_relabel(path: Path = RELABEL) -> tuple[list[str], list[str]]:
    """(first labels, second labels) of the tiles labelled twice; a label outside LABELLED is refused."""
    first, second = [], []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["first"] not in LABELLED or row["second"] not in LABELLED:
                raise ValueError(f"{path}: tile {row['tile']}: labels {row['first']!r}, {row['second']!r}")
            first.append(row["first"])
            second.append(row["second"])
    return first, second


def frame_of(path: Path, scale: int) -> npt.NDArray[np.float64]:
    """The Y frame ``nas.regions`` tiles: modcropped, Y levels, ``scale`` pixels cropped from each side."""
    return np.asarray(crop_border(y_levels(prepare_hr(path.name, load_image(path), scale)), scale), np.float64)


def tiles(labels: Sequence[Label], data: Path) -> list[npt.NDArray[np.float64]]:
    """The Y pixels of every labelled tile, read from the images under ``data``; a frame of another size than the
    labels recorded (another image of the same name) is refused."""
    frames: dict[tuple[str, str, int], npt.NDArray[np.float64]] = {}
    out = []
    for lab in labels:
        key = (lab.folder, lab.image, lab.scale)
        if key not in frames:
            frames[key] = frame_of(data / lab.folder / lab.image, lab.scale)
            if frames[key].shape != lab.frame:
                raise ValueError(f"{lab.folder}/{lab.image}: frame {frames[key].shape}, the labels say {lab.frame}")
        y0, y1, x0, x1 = lab.box
        out.append(frames[key][y0:y1, x0:x1])
    return out


def confusion(
    truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str] = CLASSES
) -> npt.NDArray[np.int64]:
    """Counts of (label, prediction), rows and columns in ``classes`` order."""
    m = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        m[classes.index(t), classes.index(p)] += 1
    return m


def recall(m: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Per class, the share of its labelled tiles the classifier gives it (nan for a class with none)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(np.diag(m) / m.sum(axis=1), dtype=np.float64)


def precision(m: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Per class, the share of the tiles the classifier gives it that carry its label (nan when it gives none)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(np.diag(m) / m.sum(axis=0), dtype=np.float64)


def table(
    m: npt.NDArray[np.int64], title: str, axes: str = "label \\ classifier", classes: Sequence[str] = CLASSES
) -> list[str]:
    """The matrix as a Markdown table with recall per row and precision under it."""
    lines = [f"{title}: {int(m.sum())} tiles, agreement {np.trace(m) / max(int(m.sum()), 1):.0%}", ""]
    lines.append(f"| {axes} | " + " | ".join(classes) + " | recall |")
    lines.append("|---" * (len(classes) + 2) + "|")
    rec, prec = recall(m), precision(m)
    for i, c in enumerate(classes):
        lines.append(f"| {c} | " + " | ".join(str(v) for v in m[i]) + f" | {rec[i]:.0%} |")
    lines.append("| precision | " + " | ".join(f"{p:.0%}" for p in prec) + " | |")
    return lines


def subsets(labels: Sequence[Label]) -> dict[str, npt.NDArray[np.bool_]]:
    """The tiles each matrix counts: all, the tuned-on part, the held-out part, the unambiguous ones."""
    split = np.array([lab.split for lab in labels])
    return {
        "all labelled tiles": np.ones(len(labels), dtype=bool),
        "tuned on (every image but every third)": split == TUNE,
        "held out (every third image of each set)": split == HELD_OUT,
        "all, tiles not marked ambiguous": np.array([not lab.ambiguous for lab in labels]),
    }


def report(
    labels: Sequence[Label], pixels: Sequence[npt.NDArray[np.float64]], rule: Callable[[np.ndarray], str]
) -> list[str]:
    """Every subset's matrix for the classifier ``rule``."""
    truth = np.array([as_class(lab.label) for lab in labels])
    predicted = np.array([rule(y) for y in pixels])
    lines: list[str] = []
    for title, members in subsets(labels).items():
        lines += [*table(confusion(list(truth[members]), list(predicted[members])), title), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA, help="folder holding the labels' image folders")
    p.add_argument("--labels", type=Path, default=LABELS)
    args = p.parse_args(argv)
    labels = read_labels(args.labels)
    print("\n".join(report(labels, tiles(labels, args.data), classify_tile)))
    first, second = read_relabel(args.labels.with_name(RELABEL.name))
    mapped = confusion([as_class(c) for c in first], [as_class(c) for c in second])
    print("\n".join([*table(mapped, "the labeller against itself (relabel.csv)", "first \\ second"), ""]))
    own = confusion(first, second, LABELLED)
    print("\n".join(table(own, "the same, in the four labelled classes", "first \\ second", LABELLED)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
