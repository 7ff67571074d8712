"""``benchmarks.region_classes``: the tiles labelled by eye are well formed (always), and the classifier's agreement
with them holds (only where the labelled images, ../shared/data, are present)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from benchmarks import region_classes_fit as fitted
from benchmarks.region_classes import (
    DATA,
    HELD_OUT,
    LABELLED,
    TUNE,
    as_class,
    confusion,
    precision,
    read_labels,
    read_relabel,
    recall,
    subsets,
    tiles,
)
from nas.sr.region_classes import CLASSES, TILE, classify_tile, tile_boxes

# Measured on 2026-12-07 (BENCHMARKS.md, "Region classes (issue 32)"), as counts of tiles the classifier got right;
# a change to the rules that lowers one of these is a regression to explain there, not a number to edit here.
MEASURED = {  # subset: (detail, all classes)
    "all labelled tiles": (158, 322),
    "tuned on (every image but every third)": (103, 223),
    "held out (every third image of each set)": (55, 99),
}
# The logistic model of benchmarks.region_classes_fit (four labelled classes), fitted on the tuning images, on the
# held-out ones, 2026-12-06: (periodic, texture, all classes).
FITTED_HELD_OUT = (17, 26, 92)
APART = ("periodic", "texture")  # the two labelled classes the classifier's detail holds


def have_images() -> bool:
    return all((DATA / folder).is_dir() for folder in ("Urban100-paper", "Set14"))


needs_images = pytest.mark.skipif(
    not have_images(),
    reason=f"../shared/data not present: {DATA} lacks Urban100-paper or Set14, so the labelled tiles cannot be read",
)


def test_labels_name_at_least_300_tiles_of_the_classifier_grid_with_every_class():
    labels = read_labels()
    assert len(labels) >= 300
    counts = Counter(lab.label for lab in labels)
    assert set(counts) == set(LABELLED) and min(counts.values()) >= 30
    assert {as_class(c) for c in LABELLED} == set(CLASSES)  # every labelled class is one of the classifier's
    assert len({(lab.image, lab.box) for lab in labels}) == len(labels)  # no tile twice
    for lab in labels:
        assert lab.box in {tuple(int(v) for v in b) for b in tile_boxes(lab.frame, TILE)}, lab


def test_held_out_images_are_every_third_image_of_each_set():
    labels = read_labels()
    for folder in {lab.folder for lab in labels}:
        names = sorted({lab.image for lab in labels if lab.folder == folder})
        for lab in (lab for lab in labels if lab.folder == folder):
            assert lab.split == (HELD_OUT if names.index(lab.image) % 3 == 2 else TUNE), lab
    held = [lab for lab in labels if lab.split == HELD_OUT]
    assert {"periodic", "texture"} <= {lab.label for lab in held} and len(held) >= 100


def test_confusion_recall_and_precision_by_hand():
    m = confusion(["flat", "edge", "edge", "periodic"], ["flat", "edge", "texture", "edge"], LABELLED)
    assert m.sum() == 4 and m[1, 2] == 1 and m[3, 1] == 1
    assert np.allclose(recall(m)[:2], [1.0, 0.5]) and np.isnan(recall(m)[2])  # no texture labels
    assert np.allclose(precision(m)[:2], [1.0, 0.5]) and precision(m)[2] == 0.0


def right(m: np.ndarray, classes: tuple[str, ...] = CLASSES, names: tuple[str, ...] = ("detail",)) -> tuple[int, ...]:
    """The tiles of each of ``names`` on the diagonal of a confusion matrix in ``classes``, then all of them."""
    diagonal = np.diag(m)
    return (*(int(diagonal[classes.index(n)]) for n in names), int(diagonal.sum()))


@pytest.fixture(scope="module")
def classified() -> np.ndarray:
    """The classifier's class of every labelled tile, in the labels' order (read and classed once)."""
    return np.array([classify_tile(y) for y in tiles(read_labels(), DATA)])


@needs_images
def test_classifier_agrees_with_the_labels_by_eye(classified: np.ndarray):
    labels = read_labels()
    truth = np.array([as_class(lab.label) for lab in labels])
    predicted = classified
    members = subsets(labels)
    for subset, counts in MEASURED.items():
        m = confusion(list(truth[members[subset]]), list(predicted[members[subset]]))
        assert all(got >= want for got, want in zip(right(m), counts, strict=True)), (subset, m)


@needs_images
def test_tiles_labelled_texture_and_those_labelled_periodic_are_each_detail_on_85_percent_or_more(
    classified: np.ndarray,
):
    """Issue 32, item 3, in the classes as redefined: each of the two labels the class of detail holds agrees with
    it on at least 85 % of its tiles, on all labelled tiles and on the held-out images."""
    labels = read_labels()
    predicted = classified
    label = np.array([lab.label for lab in labels])
    members = subsets(labels)
    for subset in ("all labelled tiles", "held out (every third image of each set)"):
        for name in APART:
            chosen = members[subset] & (label == name)
            assert np.mean(predicted[chosen] == "detail") >= 0.85, (subset, name, Counter(predicted[chosen]))


def test_the_labeller_agrees_with_itself_on_93_percent_on_15_of_18_periodic_tiles_and_30_of_33_detail():
    first, second = read_relabel()
    m = confusion(first, second, LABELLED)
    assert m.sum() == 72 and np.trace(m) == 67
    assert m[LABELLED.index("periodic")].sum() == 18 and right(m, LABELLED, APART)[:2] == (15, 15)
    mapped = confusion([as_class(c) for c in first], [as_class(c) for c in second])
    assert right(mapped) == (30, 67) and mapped[CLASSES.index("detail")].sum() == 33  # never texture for periodic


def test_the_logistic_fit_separates_separable_classes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(LABELLED)), 20)
    x = np.eye(len(LABELLED))[y] * 4.0 + rng.normal(0.0, 0.5, (len(y), len(LABELLED)))
    assert (fitted.fit(x, y, l2=0.01).predict(x) == y).all()


def test_features_are_finite_on_flat_and_striped_tiles():
    stripes = np.tile(128.0 + 60.0 * np.sign(np.sin(np.arange(32) * 2 * np.pi / 8)), (32, 1))
    x = fitted.features([np.full((32, 31), 90.0), stripes])
    assert x.shape == (2, len(fitted.FEATURES)) and np.isfinite(x).all()


@needs_images
def test_the_fitted_model_gets_the_measured_held_out_tiles_right():
    labels = read_labels()
    x = fitted.features(tiles(labels, DATA))
    truth, predicted = fitted.measured(labels, x, l2=0.03)["fitted on the tuning images, the held-out images"]
    assert right(confusion(truth, predicted, LABELLED), LABELLED, APART) == FITTED_HELD_OUT
