"""nas.noisefront: pooled seed noise and noise-aware labels by hand, then the report of a study with seed repeats."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from nas.analysis.noise import NoisyPoint, noise_aware, noise_lines, noisy_points, pooled_sd, seed_results, standing
from nas.fidelity import main as fidelity_main
from nas.output.report import build_report
from nas.report import main as report_main
from nas.study.naming import definition_of, stored_name
from nas.study.records import ArchRecord
from nas.study.storage import storage_for
from studies import BASE_OBJECTIVES, STUDIES

NAME = stored_name(STUDIES["tiny"], "random")
Z = 1.96


# ---- pooled seed noise ----


def test_pooled_sd_by_hand():
    # [1, 3]: squares 2, 1 dof; [2, 4, 6]: squares 8, 2 dof; [5] has no spread to give
    assert pooled_sd([[1.0, 3.0], [2.0, 4.0, 6.0], [5.0]]) == pytest.approx(math.sqrt(10 / 3))
    assert pooled_sd([[7.0, 7.0]]) == 0.0
    assert math.isnan(pooled_sd([[1.0], [2.0]]))
    assert math.isnan(pooled_sd([]))


# ---- noise-aware labels on hand-made points ----


def point(number: int, macs: float, params: float, *psnr: float, preset: str = "") -> NoisyPoint:
    return NoisyPoint(number, preset or f"p{number}", preset, macs, params, psnr)


# Every repeated point spreads 0.2 dB over two seeds: pooled SD sqrt(0.02), standard error 0.1 with two seeds.
POINTS = [
    point(0, 1, 1, 29.9, 30.1, preset="ms3"),  # 30.0: the cheapest, on the front
    point(1, 2, 2, 30.9, 31.1),  # 31.0: on the front
    point(2, 2, 2, 30.8, 31.0, preset="ms"),  # 30.9: below 1 at equal cost, by less than the noise (0.277)
    point(3, 3, 3, 30.4, 30.6),  # 30.5: costlier than 1 and 2 and worse by more than the noise
    point(4, 1, 2, 29.95),  # one seed (SE 0.141): below 0 at more params, by 0.05 < 1.96 * sqrt(0.03)
]


def test_noise_aware_labels_by_hand():
    front = noise_aware(POINTS)
    assert front is not None
    assert front.seed_sd == pytest.approx(math.sqrt(0.02))
    assert front.status == ("front", "front", "tied", "dominated", "tied")
    assert front.rivals == ((), (), (1,), (1, 2), (0,))
    assert front.se(0) == pytest.approx(0.1) and front.se(4) == pytest.approx(math.sqrt(0.02))
    assert front.half_width(0) == pytest.approx(Z * 0.1)


def labels(points: list[NoisyPoint]) -> tuple[str, ...]:
    front = noise_aware(points)
    assert front is not None
    return front.status


def test_the_noise_margin_decides_tied_or_dominated():
    eps = Z * math.sqrt(0.1**2 + 0.1**2)  # two points of two seeds 0.2 dB apart: SE 0.1 each

    def below(gap: float) -> list[NoisyPoint]:
        return [point(0, 1, 1, 30.9, 31.1), point(1, 1, 1, 31 - gap - 0.1, 31 - gap + 0.1)]

    assert labels(below(eps - 0.01)) == ("front", "tied")
    assert labels(below(eps + 0.01)) == ("front", "dominated")
    # costlier at equal PSNR: beaten on the means, but beyond noise needs a PSNR margin as well
    assert labels([point(0, 1, 1, 30.9, 31.1), point(1, 2, 1, 30.9, 31.1)]) == ("front", "tied")


def test_without_repeats_or_per_image_results_there_is_no_noise_front():
    assert noise_aware([point(0, 1, 1, 30.0), point(1, 2, 2, 31.0)]) is None
    assert noise_aware([]) is None


def imaged(number: int, macs: float, images: dict[str, float], *psnr: float, seed: int = 0) -> NoisyPoint:
    mean = sum(images.values()) / len(images)
    return NoisyPoint(number, f"p{number}", "", macs, 1.0, psnr or (mean,), images, seed)


def test_paired_per_image_differences_resolve_without_repeats():
    best = imaged(0, 1, {"x": 31.0, "y": 32.0, "z": 33.0})
    # 0.5, 0.3 and 0.7 dB worse on every image at higher cost: paired interval 0.5 +- 0.497, excludes 0
    consistent = imaged(1, 2, {"x": 30.5, "y": 31.7, "z": 32.3})
    # the same mean gap, but one image better: the interval holds 0
    mixed = imaged(2, 2, {"x": 29.5, "y": 31.6, "z": 33.4})
    front = noise_aware([best, consistent, mixed])
    assert front is not None and not math.isfinite(front.seed_sd)
    assert front.status == ("front", "dominated", "tied")
    assert front.paired == 6
    assert standing(front, 1) == "31.500 dB over 1 seed(s), dominated beyond noise by p0 (trial 0, 32.000 dB)"
    assert noise_lines(front)[0].startswith("Seed repeats: none, so the seed noise is not measured")
    # another seed's per-image results are not paired with these: no noise-aware front then
    other = imaged(1, 2, {"x": 30.5, "y": 31.7, "z": 32.3}, seed=1)
    assert noise_aware([best, other]) is None
    assert labels([best, consistent, other]) == ("front", "dominated", "tied")


def test_measured_seed_noise_widens_the_paired_interval():
    best = imaged(0, 1, {"x": 31.0, "y": 32.0, "z": 33.0}, 32.0, 32.0)
    worse = imaged(1, 2, {"x": 30.5, "y": 31.7, "z": 32.3}, 31.4, 31.6)  # seed SD 0.1 over two runs each
    front = noise_aware([best, worse])
    assert front is not None and front.seed_sd == pytest.approx(math.sqrt(0.01))
    # half-width t(2) * sqrt(0.04 / 3 + 0.01 * (1/2 + 1/2)) = 0.6 > the 0.5 gap: tied; unpaired it would be 0.196
    assert front.status == ("front", "tied")


def test_standing_and_lines():
    front = noise_aware(POINTS)
    assert front is not None
    assert standing(front, 0) == "30.000 +- 0.196 dB over 2 seed(s), on the front"
    assert standing(front, 2) == "30.900 +- 0.196 dB over 2 seed(s), tied within noise with p1 (trial 1, 31.000 dB)"
    assert standing(front, 3) == "30.500 +- 0.196 dB over 2 seed(s), dominated beyond noise by p1 (trial 1, 31.000 dB)"
    lines = noise_lines(front)
    assert lines[0].startswith(
        "Seed repeats: 4 of 5 architectures were trained with 2 or more seeds; pooled seed SD 0.141"
    )
    assert lines[1:] == [f"ms3 (trial 0): {standing(front, 0)}.", f"ms (trial 2): {standing(front, 2)}."]


def archs(*points: tuple[str, str, float, float]) -> list[ArchRecord]:
    """Records numbered 0, 1, ... from (spec_hash, preset, macs, params)."""
    study = optuna.create_study(directions=[o.direction for o in BASE_OBJECTIVES])
    for spec_hash, preset, macs, params in points:
        attrs = {"spec_hash": spec_hash, **({"preset": preset} if preset else {})}
        study.add_trial(optuna.trial.create_trial(values=[30.0, macs, params], user_attrs=attrs))
    return [ArchRecord(t, BASE_OBJECTIVES) for t in study.trials]


def test_noisy_points_order_seeds_and_skip_the_unmeasured():
    firsts = archs(("a", "ms3", 1.0, 2.0), ("b", "", 3.0, 4.0), ("c", "", 5.0, 6.0))
    points = noisy_points(firsts, {"a": {1: 31.0, 0: 30.0}, "b": {0: 29.0}})
    assert points == [
        NoisyPoint(0, "ms3", "ms3", 1.0, 2.0, (30.0, 31.0), None, 0),
        NoisyPoint(1, "b", "", 3.0, 4.0, (29.0,), None, 0),
    ]


# ---- end to end: nas.fidelity --budget-x 1 --seeds 2, then nas.report ----


@pytest.fixture(scope="module")
def repeated(tiny_random_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, str, str]:
    """The named variants trained with a second seed at the proxy budget; (study, report output, page)."""
    argv = ["--study", NAME, "--storage", tiny_random_url, "--k", "3", "--budget-x", "1", "--seeds", "2"]
    page = tmp_path_factory.mktemp("report") / "report.html"
    out = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert fidelity_main([*argv, "--device", "cpu"]) == 0
    with contextlib.redirect_stdout(out):
        assert report_main(["--study", NAME, "--storage", tiny_random_url, "--out", str(page), "--no-dashboard"]) == 0
    study = optuna.load_study(study_name=NAME, storage=storage_for(tiny_random_url))
    return study, out.getvalue(), page.read_text()


def test_seed_results_join_the_study_and_its_fidelity_records(repeated: tuple[optuna.Study, str, str]):
    study = repeated[0]
    results = seed_results(study)
    by_hash = {t.user_attrs["spec_hash"]: t for t in study.trials}
    assert set(results) == set(by_hash)
    for spec_hash, runs in results.items():
        trial = by_hash[spec_hash]
        assert trial.values is not None and runs[0] == trial.values[0]
        assert set(runs) == ({0, 1} if trial.user_attrs.get("preset") else {0})


def test_the_report_states_the_noise_and_each_named_variant(repeated: tuple[optuna.Study, str, str]):
    study, printed, page = repeated
    pairs = [list(runs.values()) for runs in seed_results(study).values() if len(runs) > 1]
    sd = float(np.sqrt(np.mean([(a - b) ** 2 / 2 for a, b in pairs])))  # one dof per pair
    head = f"Seed repeats: 3 of 5 architectures were trained with 2 or more seeds; pooled seed SD {sd:.3f} dB."
    assert head in printed and head in page
    for t in study.trials:
        preset = t.user_attrs.get("preset")
        if preset:
            assert f"\n{preset} (trial {t.number}): " in printed
            assert " over 2 seed(s), " in printed.split(f"\n{preset} (trial {t.number}): ")[1].splitlines()[0]
    assert 'id="msnas-noise-front"' in page


def test_without_repeats_the_noise_figure_rests_on_paired_differences(
    repeated: tuple[optuna.Study, str, str], tiny_random_db: Path
):
    study = repeated[0]
    assert "msnas-noise-front" in build_report(study, definition_of(study)).figures
    plain = optuna.load_study(study_name=NAME, storage=storage_for(f"sqlite:///{tiny_random_db}"))
    report = build_report(plain, definition_of(plain))
    assert "msnas-noise-front" in report.figures  # every trial recorded its per-image PSNR
    assert any(line.startswith("Seed repeats: none, so the seed noise is not measured") for line in report.lines)
    assert any(line.endswith("ordered comparisons used paired per-image differences (same seed and images) instead"
                             " of the seed noise alone.") for line in report.lines)  # fmt: skip


def test_analyze_uses_the_seed_means(repeated: tuple[optuna.Study, str, str], tiny_random_url: str, tmp_path: Path):
    from nas.analyze import main as analyze_main

    study = repeated[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            analyze_main(["--study", NAME, "--storage", tiny_random_url, "--out", str(tmp_path), "--no-dashboard"]) == 0
        )
    assert "PSNR is the mean over seed repeats for 3 architectures" in out.getvalue()
    data = json.loads((tmp_path / "analysis.json").read_text())
    psnr = {h: sum(r.values()) / len(r) for h, r in seed_results(study).items()}
    best = max(psnr.values())
    by_number = {t.number: t.user_attrs["spec_hash"] for t in study.trials}
    for sub in data["subspaces"]:
        expected = [best - psnr[by_number[n]] for n in sub["trials"]]
        assert sub["error"] == pytest.approx(expected, abs=1e-12)
