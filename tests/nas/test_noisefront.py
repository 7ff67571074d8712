"""nas.noisefront: pooled seed noise and noise-aware labels by hand, then the report of a study with seed repeats."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import optuna
import pytest

from nas.analysis.noise import NoisyPoint, noise_aware, noise_lines, noisy_points, pooled_sd, seed_results, standing
from nas.analysis.verdict import Margin
from nas.fidelity import main as fidelity_main
from nas.output.report import build_report
from nas.report import main as report_main
from nas.study import keys
from nas.study.naming import definition_of, stored_name
from nas.study.records import ArchRecord
from nas.study.storage import storage_for
from studies import BASE_OBJECTIVES, STUDIES

NAME = stored_name(STUDIES["tiny"], "random")


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


# Two seeds each; seed 1 is 0.1 dB below seed 0 for every point (a shared shift) but for small wobbles.
POINTS = [
    point(0, 1, 1, 30.00, 29.91, preset="ms3"),  # the cheapest: on the front
    point(1, 2, 2, 31.00, 30.90),  # on the front
    point(2, 2, 2, 30.99, 30.88, preset="ms"),  # 0.015 dB below 1 at equal cost: practically equivalent, tied
    point(3, 3, 3, 30.50, 30.41),  # 0.5 dB below 1 and 2 at more cost: dominated beyond the margin
    point(4, 1, 2, 29.95),  # one seed: below 0 at more params, by 0.005 dB: tied
]


def test_noise_aware_labels_by_hand():
    front = noise_aware(POINTS)
    assert front is not None
    assert front.status == ("front", "front", "tied", "dominated", "tied")
    assert front.rivals == ((), (), (1,), (1, 2), (0,))
    assert front.images == 0  # no per-image PSNRs: the means as given
    assert front.verdicts[(1, 2)].decision == "equivalent" and front.verdicts[(1, 3)].decision == "better"
    # the seed noise of an architecture + seed fit of the 9 runs: residuals of 0.01 dB size, 3 df
    assert 0 < front.seed_sd < 0.02


def labels(points: list[NoisyPoint]) -> tuple[str, ...]:
    front = noise_aware(points)
    assert front is not None
    return front.status


def test_the_margin_decides_tied_or_dominated():
    """Beyond noise is not enough: the rival must be better by more than the ROPE (0.05 dB)."""

    def below(gap: float) -> list[NoisyPoint]:
        return [point(0, 1, 1, 31.0, 30.9), point(1, 1, 1, 31 - gap + 0.001, 30.9 - gap - 0.001)]

    assert labels(below(0.02)) == ("front", "tied")  # certainly below, but within the margin
    assert labels(below(0.3)) == ("front", "dominated")
    assert labels([point(0, 1, 1, 31.0, 30.9), point(1, 2, 1, 31.0, 30.9)]) == ("front", "tied")


def test_without_repeats_or_per_image_results_there_is_no_noise_front():
    assert noise_aware([point(0, 1, 1, 30.0), point(1, 2, 2, 31.0)]) is None
    assert noise_aware([]) is None


def imaged(number: int, macs: float, images: dict[str, float], seed: int = 0) -> NoisyPoint:
    mean = sum(images.values()) / len(images)
    return NoisyPoint(number, f"p{number}", "", macs, 1.0, (mean,), images, seed)


def test_one_seed_on_two_images_decides_nothing():
    """The over-certain case: a 0.002 dB gap that both images agree on, one seed: not dominated, and said why."""
    best = imaged(0, 1, {"chelsea": 32.1310, "coffee": 28.8190})
    other = imaged(1, 2, {"chelsea": 32.1291, "coffee": 28.8171})
    front = noise_aware([best, other])
    assert front is not None and front.status == ("front", "tied") and not math.isfinite(front.seed_sd)
    assert "the seed noise is not measured" in standing(front, 1)
    assert noise_lines(front)[0].startswith("Seed repeats: none, so the seed noise is not measured")


def test_per_image_runs_of_two_seeds_decide_beyond_the_margin():
    def runs(shift: float) -> dict[int, dict[str, float]]:
        wobble = [[0.0, 0.002, 0.001, 0.0, 0.003, 0.001], [0.001, 0.0, 0.002, 0.002, 0.0, 0.001]]
        return {s: {f"i{k}": 30 + k * 0.1 - shift - 0.05 * s + wobble[s][k] for k in range(6)} for s in (0, 1)}

    def imaged_seeds(number: int, macs: float, shift: float) -> NoisyPoint:
        per = runs(shift)
        means = tuple(sum(v.values()) / 6 for v in per.values())
        return NoisyPoint(number, f"p{number}", "", macs, 1.0, means, None, None, (0, 1), per)

    front = noise_aware([imaged_seeds(0, 1, 0.0), imaged_seeds(1, 2, 0.3), imaged_seeds(2, 2, 0.01)])
    assert front is not None and front.images == 6 and front.margin.images == "random"
    assert front.status == ("front", "dominated", "tied")
    assert "dominated beyond the +-0.05 dB margin by p0 (trial 0, +0.300 dB" in standing(front, 1)


def test_the_study_margin_is_used():
    wide = noise_aware(POINTS, Margin(rope=1.0))
    assert wide is not None and wide.status[3] == "tied"  # 0.5 dB is within a 1 dB ROPE


def test_standing_and_lines():
    front = noise_aware(POINTS)
    assert front is not None
    assert standing(front, 0).endswith("dB over 2 seed(s), on the front")
    assert "tied with p1 (trial 1, 30.950 dB): practically equivalent within +-0.05 dB" in standing(front, 2)
    assert "dominated beyond the +-0.05 dB margin by p1 (trial 1, +0.49" in standing(front, 3)
    lines = noise_lines(front)
    assert lines[0].startswith("Noise-aware front: a point is dominated only when a rival that costs no more is")
    assert "4 of 5 architectures have 2 or more seeds" in lines[0]
    assert lines[1:] == [f"ms3 (trial 0): {standing(front, 0)}.", f"ms (trial 2): {standing(front, 2)}."]


def archs(*points: tuple[str, str, float, float]) -> list[ArchRecord]:
    """Records numbered 0, 1, ... from (spec_hash, preset, macs, params)."""
    study = optuna.create_study(directions=[o.direction for o in BASE_OBJECTIVES])
    for spec_hash, preset, macs, params in points:
        attrs = {keys.SPEC_HASH: spec_hash, **({keys.PRESET: preset} if preset else {})}
        study.add_trial(optuna.trial.create_trial(values=[30.0, macs, params], user_attrs=attrs))
    return [ArchRecord(t, BASE_OBJECTIVES) for t in study.trials]


def test_noisy_points_order_seeds_and_skip_the_unmeasured():
    firsts = archs(("a", "ms3", 1.0, 2.0), ("b", "", 3.0, 4.0), ("c", "", 5.0, 6.0))
    points = noisy_points(firsts, {"a": {1: 31.0, 0: 30.0}, "b": {0: 29.0}}, {"a": {1: {"x": 31.0}}})
    assert points == [
        NoisyPoint(0, "ms3", "ms3", 1.0, 2.0, (30.0, 31.0), None, 0, (0, 1), {1: {"x": 31.0}}),
        NoisyPoint(1, "b", "", 3.0, 4.0, (29.0,), None, 0, (0,), {}),
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
    by_hash = {t.user_attrs[keys.SPEC_HASH]: t for t in study.trials}
    assert set(results) == set(by_hash)
    for spec_hash, runs in results.items():
        trial = by_hash[spec_hash]
        assert trial.values is not None and runs[0] == trial.values[0]
        assert set(runs) == ({0, 1} if trial.user_attrs.get(keys.PRESET) else {0})


def test_the_report_states_the_noise_and_each_named_variant(repeated: tuple[optuna.Study, str, str]):
    study, printed, page = repeated
    head = "Noise-aware front: a point is dominated only when a rival that costs no more is better by more than"
    assert head in printed and head in page
    assert "3 of 5 architectures have 2 or more seeds" in printed
    for t in study.trials:
        preset = t.user_attrs.get(keys.PRESET)
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
    by_number = {t.number: t.user_attrs[keys.SPEC_HASH] for t in study.trials}
    for sub in data["subspaces"]:
        expected = [best - psnr[by_number[n]] for n in sub["trials"]]
        assert sub["error"] == pytest.approx(expected, abs=1e-12)
