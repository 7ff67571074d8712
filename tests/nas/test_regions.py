"""Region-level analysis: the classifier on synthetic images, per-class metrics against hand computation, the paired
interval on data whose answer is known, and ``nas.regions`` end to end on two tiny trained networks."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from nas.analyze import main as analyze_main
from nas.output.regions_page import (
    CLASS_COLOURS,
    MIN_ERROR_RANGE,
    class_overlay,
    difference_map,
    error_range,
    write_page,
)
from nas.output.report import build_report
from nas.regions import main as regions_main
from nas.sr import region_scores as R
from nas.sr import tile_sums as T
from nas.sr.evaluation import bicubic_upscaler
from nas.sr.metrics import ssim
from nas.sr.region_classes import RULES, prominent_peaks
from nas.sr.regions_json import as_json
from nas.study import keys
from nas.train import main as train_main
from space import preset

N = 64  # a 2x2 grid of 32-pixel tiles
ROWS, COLS = np.mgrid[0:N, 0:N].astype(np.float64)


def synthetic(kind: str) -> np.ndarray:
    """Y (0..255) images whose class is known by construction."""
    rng = np.random.default_rng(0)
    if kind == "flat":
        return 120.0 + rng.normal(0.0, 1.0, (N, N))
    if kind == "ramp":  # a smooth shading: flat once its plane is removed
        return 40.0 + 2.5 * COLS + rng.normal(0.0, 1.0, (N, N))
    if kind == "edge":  # one straight step per tile, anti-aliased
        d = ((COLS % 32) - 15.5) * math.cos(0.3) + ((ROWS % 32) - 15.5) * math.sin(0.3)
        return 40.0 + 160.0 * np.clip(d + 0.5, 0.0, 1.0)
    if kind == "grating":  # period 6 px at an angle
        return 128.0 + 80.0 * np.sin(2 * math.pi * (COLS * math.cos(0.4) + ROWS * math.sin(0.4)) / 6.0)
    if kind == "checkerboard":  # 4-pixel squares
        return np.where(((COLS // 4) + (ROWS // 4)) % 2 == 0, 40.0, 200.0)
    if kind == "noise":
        return 128.0 + 30.0 * rng.normal(size=(N, N))
    raise ValueError(kind)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("flat", "flat"),
        ("ramp", "flat"),
        ("edge", "edge"),
        ("grating", "detail"),
        ("checkerboard", "detail"),
        ("noise", "detail"),
    ],
)
def test_synthetic_images_get_their_class(kind: str, expected: str):
    tiling = R.classify(synthetic(kind), 32)
    assert len(tiling.boxes) == 4
    assert [R.CLASSES[c] for c in tiling.classes] == [expected] * 4


def test_prominent_peaks_count_as_scipy_signal_finds_them():
    """Profiles of a tile's length, smooth, noisy and with flat tops (rounded), edges and ties included."""
    from scipy.signal import find_peaks

    rng = np.random.default_rng(0)
    for k in range(600):
        n = int(rng.integers(3, 50))
        p = np.cumsum(rng.normal(size=n)) if k % 2 else rng.normal(size=n)
        p = np.round(p, int(rng.integers(0, 3)))  # rounding makes plateaus and equal neighbours
        for least in (0.0, 0.2 * float(np.ptp(p)), 0.5, 2.0):
            assert prominent_peaks(p.tolist(), least) == len(find_peaks(p, prominence=least)[0]), (p, least)


def test_a_coarse_stripe_is_an_edge_not_dense_structure():
    """A step repeating every 32 pixels has one spectral peak, but it is not dense: its period is the tile's."""
    step = np.where((COLS % 32) < 16, 40.0, 200.0)
    assert {R.CLASSES[c] for c in R.classify(step, 32).classes} == {"edge"}


def test_tiles_cover_every_pixel_once_at_near_equal_sizes():
    tiling = R.classify(synthetic("noise")[:50, :61], 16)
    owner = tiling.owner()
    assert owner.shape == (50, 61) and int(tiling.pixels.sum()) == 50 * 61
    assert np.array_equal(np.bincount(owner.ravel()), tiling.pixels)
    sides = np.concatenate([tiling.boxes[:, 1] - tiling.boxes[:, 0], tiling.boxes[:, 3] - tiling.boxes[:, 2]])
    assert sides.min() >= 12 and sides.max() <= 21  # 50 -> 3 rows of 16-17, 61 -> 4 columns of 15-16


def half_flat_half_grating() -> tuple[np.ndarray, np.ndarray, R.Tiling]:
    """HR Y with a flat left half and a grating right half, and a distorted copy (errors everywhere)."""
    hr = np.where(COLS < 32, synthetic("flat"), synthetic("grating"))
    sr = hr + np.random.default_rng(3).normal(0.0, 4.0, hr.shape) + 2.0 * (COLS >= 32)
    return hr, sr, R.classify(hr, 32)


def measured_of(hr: np.ndarray, srs: dict[str, np.ndarray], tiling: R.Tiling) -> R.Measured:
    measured = R.Measured(tuple(srs))
    measured.images.append("synthetic")
    measured.image_of.append(np.zeros(len(tiling.boxes), np.int64))
    measured.boxes.append(tiling.boxes)
    measured.frames.append(tiling.shape)
    measured.classes.append(tiling.classes)
    measured.pixels.append(tiling.pixels)
    for name, sr in srs.items():
        measured.sums[name] = [T.tile_sums(hr, sr, tiling)]
    return measured


def test_per_class_psnr_is_psnr_on_the_class_mask():
    hr, sr, tiling = half_flat_half_grating()
    scores = R.per_class(measured_of(hr, {"m": sr}, tiling))
    for region in ("flat", "detail"):
        mask = tiling.mask(region)
        by_hand = 10 * math.log10(255.0**2 / float(np.mean((hr[mask] - sr[mask]) ** 2)))
        assert scores[region]["m"].psnr == pytest.approx(by_hand, abs=1e-9)
        assert scores[region]["m"].share == pytest.approx(0.5)
    everything = 10 * math.log10(255.0**2 / float(np.mean((hr - sr) ** 2)))
    assert scores[R.ALL]["m"].psnr == pytest.approx(everything, abs=1e-9)


def test_ssim_and_gmsd_over_all_classes_equal_the_whole_image_figures():
    hr, sr, tiling = half_flat_half_grating()
    scores = R.per_class(measured_of(hr, {"m": sr}, tiling))[R.ALL]["m"]
    assert scores.ssim == pytest.approx(ssim(hr, sr), abs=1e-12)
    assert scores.gmsd == pytest.approx(T.gmsd(hr, sr), abs=1e-12)
    assert T.gmsd(hr, hr) == 0.0


def test_gms_map_of_two_ramps_is_the_formula_inside():
    """Ramps of slopes 2 and 4 per pixel are ramps of 4 and 8 per half-resolution pixel; Prewitt's (1, 0, -1) / 3
    over three rows gives twice that, 8 and 16; GMS = (2*8*16 + T) / (64 + 256 + T) away from the zero-padded frame."""
    gms = T.gms_map(2.0 * COLS, 4.0 * COLS)
    assert np.allclose(gms[1:-1, 1:-1], (2 * 8 * 16 + T.GMSD_T) / (64 + 256 + T.GMSD_T))


def test_psnr_difference_of_errors_in_ratio_two_is_ten_log_two():
    a, b = np.array([1.0, 3.0, 5.0]), np.array([2.0, 6.0, 10.0])
    assert float(R.psnr_difference(a, b)) == pytest.approx(10 * math.log10(2))
    assert R.difference_interval(a, b) == pytest.approx((10 * math.log10(2),) * 2)


def test_two_tile_interval_spans_the_two_tiles_differences():
    """Resampling two tiles gives {t1,t1}, {t1,t2}, {t2,t2}: the 2.5 and 97.5 percentiles are the two extremes."""
    a, b = np.array([1.0, 1.0]), np.array([2.0, 8.0])
    interval = R.difference_interval(a, b, n_boot=4000)
    assert interval is not None
    low, high = interval
    assert low == pytest.approx(10 * math.log10(2)) and high == pytest.approx(10 * math.log10(8))
    assert R.difference_interval(a[:1], b[:1]) is None


def test_interval_narrows_with_more_tiles_and_covers_the_pooled_difference():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 320):
        a = rng.uniform(1.0, 2.0, n)
        b = a * rng.uniform(1.0, 1.5, n)
        interval = R.difference_interval(a, b)
        assert interval is not None
        low, high = interval
        assert low <= float(R.psnr_difference(a, b)) <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # about 1/sqrt(16) as wide


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two tiny x4 networks trained by ``nas.train`` on the bundled photos (a few hundred iterations: distinct,
    trained outputs), and a folder of two HR images."""
    root = tmp_path_factory.mktemp("regions")
    folders = []
    for name in ("standard", "ms3"):
        (root / f"{name}.json").write_text(preset(name).resized(16, 1).to_json())
        argv = ["--arch", str(root / f"{name}.json"), "--iters", "200", "--batch", "4", "--hr-patch", "32"]
        argv += ["--val-every", "200", "--ckpt-every", "200", "--no-subimages", "--out", str(root / name)]
        assert train_main(argv) == 0
        folders.append(root / name)
    data = root / "hr"
    data.mkdir()
    grating = np.clip(synthetic("grating")[:, :, None].repeat(3, axis=2), 0, 255).astype(np.uint8)
    Image.fromarray(np.tile(grating, (1, 2, 1))).save(data / "grating.png")
    Image.fromarray(np.clip(synthetic("edge") + synthetic("flat") - 120, 0, 255).astype(np.uint8)).save(data / "g.png")
    return folders[0], folders[1], data


@pytest.mark.slow
def test_page_and_json_from_two_tiny_models(two_models: tuple[Path, Path, Path], tmp_path: Path, capsys):
    standard, ms3, data = two_models
    out = tmp_path / "out"
    argv = ["--model", f"standard={standard}", "--model", f"ms3={ms3 / 'spec.json'}:{ms3 / 'model.pt'}"]
    argv += ["--data", str(data), "--scale", "4", "--out", str(out), "--rescale", "0.8", "--json", "--n-boot", "200"]
    assert regions_main(argv) == 0
    printed = capsys.readouterr().out
    assert "standard - ms3 on all:" in printed and f"page: {out / 'regions.html'}" in printed
    doc = json.loads((out / "regions.json").read_text())
    assert doc["models"] == ["standard", "ms3", "bicubic"] and doc["images"] == ["g.png", "grating.png"]
    assert set(doc["per_class"]) <= {*R.CLASSES, R.ALL} and "detail" in doc["per_class"]
    for region, scores in doc["per_class"].items():
        assert set(scores) == {"standard", "ms3", "bicubic"}
        assert all(set(s) >= {"psnr", "ssim", "share"} for s in scores.values()), region
    assert sum(next(iter(v.values()))["share"] for k, v in doc["per_class"].items() if k != R.ALL) == pytest.approx(1)
    pairs = {(p["a"], p["b"]) for p in doc["pairs"]}
    assert pairs == {("standard", "ms3"), ("standard", "bicubic"), ("ms3", "bicubic")}
    assert all(p["ci"][0] <= p["diff"] <= p["ci"][1] for p in doc["pairs"] if p["ci"])
    assert set(doc["rescale"]) == {"0.8"} and "all" in doc["rescale"]["0.8"]
    assert {t["image"] for t in doc["tiles"]} == {"g.png", "grating.png"} and doc["border"] == 4
    assert all(t["class"] in R.CLASSES and len(t["box"]) == 4 for t in doc["tiles"])
    page = (out / "regions.html").read_text()
    assert page.count('class="classes"') == 2  # each image under its classes
    assert page.count("data:image/png;base64,") >= 5  # a crop: HR, three upscalers, the difference map
    assert "grating.png, detail" in page and "HR rescaled by 0.8" in page
    assert "https://" not in page.split("<script")[0]  # nothing fetched before plotly.js, which is inline


@pytest.mark.slow
def test_rescaled_image_too_small_is_refused_before_any_model_runs(two_models, tmp_path: Path, capsys):
    standard, ms3, data = two_models
    argv = ["--model", f"a={standard}", "--model", f"b={ms3}", "--data", str(data), "--scale", "4"]
    assert regions_main([*argv, "--out", str(tmp_path / "o"), "--rescale", "0.2"]) == 2
    assert "--rescale 0.2: g.png becomes 13x13, too small for x4" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_search_trials_record_region_psnr_and_analyze_compares_on_one_region(tiny_random_url: str, tmp_path: Path):
    study = optuna.load_study(study_name="tiny-random", storage=tiny_random_url)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    recorded = [keys.region_keys(t.user_attrs) for t in done]
    assert recorded[0] and all(r == recorded[0] for r in recorded)  # the same validation images, the same classes
    assert {k.removeprefix(keys.REGION_PREFIX) for k in recorded[0]} <= set(R.CLASSES)
    assert {t.user_attrs[keys.REGION_RULES] for t in done} == {RULES}  # which rules classed them, with them
    region = recorded[0][0].removeprefix(keys.REGION_PREFIX)
    for t in done:  # a region's PSNR pools its pixels: it need not lie near the image mean, but it is a PSNR
        assert all(10.0 < t.user_attrs[k] < 60.0 for k in recorded[0])
    figure = build_report(study, None).figures["msnas-regions"]  # one panel per class, each with its own front
    assert [a.text for a in figure.layout.annotations] == [k.removeprefix(keys.REGION_PREFIX) for k in recorded[0]]
    scatters = [t for t in figure.data if t.mode == "markers+text"]  # named variants labelled
    assert len(scatters) == len(recorded[0]) and all(len(t.x) == len(done) for t in scatters)
    out = tmp_path / "analysis"
    argv = ["--study", "tiny-random", "--storage", tiny_random_url, "--out", str(out), "--no-dashboard"]
    assert analyze_main([*argv, "--region", region, "--boot", "20", "--perm", "20"]) == 0
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["region"] == region
    best = max(t.user_attrs[keys.region_key(region)] for t in done)
    assert doc["best_psnr"] == pytest.approx(best)


def test_intervals_resample_images_not_tiles():
    """Tiles of one image share its difference: 8 images of 40 tiles each are 8 units, not 320."""
    rng = np.random.default_rng(1)
    images = np.repeat(np.arange(8), 40)
    ratio = np.repeat(rng.uniform(1.0, 1.6, 8), 40)  # each image's own ratio of errors, shared by its tiles
    a = rng.uniform(1.0, 2.0, 320)
    b = a * ratio * rng.uniform(0.99, 1.01, 320)
    tiles = R.difference_interval(a, b)
    clustered = R.clustered_interval(a, b, images)
    assert tiles is not None and clustered is not None
    assert clustered[1] - clustered[0] > 3 * (tiles[1] - tiles[0])
    assert R.clustered_interval(a[:160], b[:160], images[:160]) is None  # 4 images: not enough data
    d = R.PairDifference("a", "b", "edge", 0.1, None, 4)
    assert d.ci_text() == f"not enough data: 4 image(s), {R.MIN_IMAGES} or more"


def nearest_x4(lr: np.ndarray) -> np.ndarray:
    """A second upscaler that needs no training: each LR pixel becomes a 4x4 block."""
    return np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1)


PAIR = ("bicubic", "nearest")


@pytest.fixture(scope="module")
def measured_pair() -> R.Measured:
    return measure_pair()


def measure_pair() -> R.Measured:
    """Five synthetic HR images (a flat half that both upscalers reproduce exactly beside a grating, one shifted per
    image) through bicubic and nearest-neighbour x4: enough images for intervals, no model to train."""
    measured = R.Measured(PAIR)
    fns = {"bicubic": bicubic_upscaler(4), "nearest": nearest_x4}
    for k in range(5):
        grating = np.tile(np.roll(synthetic("grating"), k, axis=1), (2, 2))
        y = np.where(np.arange(2 * N)[None, :] < 80, 120.0, grating)  # tiles left of column 64 are exactly flat
        img = np.clip(np.round(y), 0, 255).astype(np.uint8)[:, :, None].repeat(3, axis=2)
        R.measure_image(measured, f"{k}.png", img, 4, fns, 32, PAIR)
    return measured


def test_regions_json_lists_every_tile_with_its_image_box_and_class(measured_pair: R.Measured):
    doc = json.loads(json.dumps(as_json(R.analyse(measured_pair, [PAIR], n_boot=200), {})))
    assert doc["border"] == 4 and "border" in doc["tile_frame"]
    for k, name in enumerate(doc["images"]):
        mine = [t for t in doc["tiles"] if t["image"] == name]
        h, w = measured_pair.frames[k]
        owner = np.zeros((h, w), dtype=np.int64)
        for t in mine:
            y0, y1, x0, x1 = t["box"]
            owner[y0:y1, x0:x1] += 1
        assert (owner == 1).all()  # the boxes cover the evaluated frame, each pixel once
        assert [t["class"] for t in mine] == [R.CLASSES[c] for c in measured_pair.classes[k]]
    counts = {c: sum(t["class"] == c for t in doc["tiles"]) for c in R.CLASSES}
    for region, scores in doc["per_class"].items():
        if region != R.ALL:
            assert scores["bicubic"]["tiles"] == counts[region]
    assert {"flat", "detail"} <= {t["class"] for t in doc["tiles"]}


def test_exactly_reproduced_tiles_print_no_runtime_warning():
    """Flat tiles that an upscaler reproduces exactly have no error: their PSNRs and PSNR ratios are infinite, which
    used to reach the console as 'divide by zero encountered' (and 'invalid value' when ranking the gallery's
    tiles)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        measured = measure_pair()
        analysis = R.analyse(measured, [PAIR], n_boot=200)
        assert R.difference_interval(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) is not None
        assert R.difference_interval(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 3.0])) is not None
    assert any(d.ci is not None for d in analysis.pairs)
    assert all((np.concatenate([s.sse for s in measured.sums[u]]) == 0).any() for u in PAIR)  # the case at hand


def test_page_overlays_each_images_classes(measured_pair: R.Measured, tmp_path: Path):
    analysis = R.analyse(measured_pair, [PAIR], n_boot=200)
    page = write_page(tmp_path / "regions.html", analysis, {}, PAIR, "synthetic").read_text()
    assert 'id="show-classes"' in page and page.count('class="classes"') == len(measured_pair.images)
    assert all(f"></span>{c}" in page for c in R.CLASSES)  # the legend names every class
    view = measured_pair.views["0.png"]
    overlay = class_overlay(measured_pair, 0, view.shape[:2])
    fy, fx = view.shape[0] / measured_pair.frames[0][0], view.shape[1] / measured_pair.frames[0][1]
    for (y0, y1, x0, x1), c in zip(measured_pair.boxes[0], measured_pair.classes[0], strict=True):
        centre = overlay[round((y0 + y1) / 2 * fy), round((x0 + x1) / 2 * fx)]
        assert tuple(centre[:3]) == CLASS_COLOURS[R.CLASSES[c]] and centre[3] > 0


def test_difference_map_spans_full_colour_for_small_differences():
    """Two networks differ by a few Y levels; the map saturates at the crop's largest difference, not at 32."""
    a = np.zeros((4, 4))
    b = a.copy()
    b[0, 0], a[1, 1] = 3.0, 1.5  # b errs 3 levels more at one pixel, a 1.5 at another
    rgb = difference_map(a, b)
    assert tuple(rgb[0, 0]) == (0, 0, 255)  # full blue: b worse by the largest difference
    assert tuple(rgb[1, 1]) == (255, 128, 128)  # half red
    assert tuple(rgb[3, 3]) == (255, 255, 255)
    assert error_range(a, a) == MIN_ERROR_RANGE  # no difference at all stays white, not a division by zero
