"""The proxy trainer on a tiny budget: fields, determinism, paired batches, validation against bicubic."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from nas.sr.patches import PatchSampler
from nas.training.proxy import StoppedEarly, ValidationSet, curve_stops, fit_proxy, score_proxy, train_proxy
from space import preset
from studies.budget import CPU_PROXY, ProxyBudget

TINY = ProxyBudget(iterations=8, batch=2, patch=8, peak_lr=1e-3, warmup=2, width=8, blocks=1)


def images(n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8)
    return [(f"im{k}", base[k].repeat(4, 0).repeat(4, 1)) for k in range(n)]  # smooth enough for SR


@pytest.fixture(scope="module")
def data():
    return images(3, 0), ValidationSet.of(images(2, 1), 2)


def test_result_fields_and_determinism(data):
    train, val = data
    spec = preset("ms3", upscale=2)
    a = train_proxy(spec, TINY, train, val, seed=5, device="cpu")
    b = train_proxy(spec, TINY, train, val, seed=5, device="cpu")
    assert a.psnr == pytest.approx(b.psnr, abs=1e-6) and a.ssim == pytest.approx(b.ssim, abs=1e-9)
    assert a.gain == pytest.approx(a.psnr - a.bicubic_psnr)
    assert a.bicubic_psnr == val.bicubic.psnr
    assert len(a.curve) == 8 and a.samples_per_second > 0 and a.train_seconds > 0
    assert a.device == "cpu" and a.seed == 5 and len(a.per_image) == 2
    assert a.as_dict()["budget"]["iterations"] == 8


def test_architectures_see_the_same_batches(data):
    """Common random numbers: the batches depend on the seed only, never on the architecture."""
    train, _ = data
    sampler = PatchSampler.from_images(train, 2, TINY.patch, TINY.batch, seed=9)
    again = PatchSampler.from_images(train, 2, TINY.patch, TINY.batch, seed=9)
    assert all(np.array_equal(sampler.hr_batch(i), again.hr_batch(i)) for i in range(TINY.iterations))


def test_scale_mismatch_is_an_error(data):
    train, val = data
    with pytest.raises(ValueError, match="x2"):
        train_proxy(preset("ms3", upscale=4), TINY, train, val)


def test_budget_scaling_keeps_the_recipe():
    longer = CPU_PROXY.scaled(4)
    assert longer.iterations == 4 * CPU_PROXY.iterations and longer.peak_lr == CPU_PROXY.peak_lr
    assert replace(longer, iterations=CPU_PROXY.iterations, warmup=CPU_PROXY.warmup) == CPU_PROXY


def test_the_learning_curve_is_validated_at_each_quarter_without_changing_the_result(data):
    train, val = data
    spec = preset("ms3", upscale=2)
    assert curve_stops(8) == [2, 4, 6, 8] and curve_stops(3) == [1, 2, 3]
    result = train_proxy(spec, TINY, train, val, seed=5, device="cpu")
    assert [i for i, _ in result.val_curve] == [2, 4, 6, 8] and result.val_curve[-1][1] == result.psnr
    model, log = fit_proxy(spec, TINY, train, seed=5, device="cpu")  # one stretch, never validated midway
    plain = score_proxy(model, log, val, torch.device("cpu"), 5, TINY)
    assert plain.psnr == result.psnr and plain.val_curve == ((8, result.psnr),)


def test_the_progress_bar_shows_iterations_and_loss_and_changes_nothing(data, capsys):
    train, val = data
    spec = preset("ms3", upscale=2)
    budget = replace(TINY, iterations=20)
    quiet = train_proxy(spec, budget, train, val, seed=5, device="cpu")
    assert capsys.readouterr().err == ""
    shown = train_proxy(spec, budget, train, val, seed=5, device="cpu", progress=True)
    err = capsys.readouterr().err
    assert "/20 [" in err and "loss=" in err and ("it/s" in err or "s/it" in err)  # tqdm redraws at its own rate
    assert shown.psnr == quiet.psnr and shown.val_curve == quiet.val_curve


def test_progress_lines_give_iteration_loss_and_eta_and_change_nothing(data, capsys):
    """What a ``--devices`` worker prints instead of a bar: whole lines the launcher relays."""
    train, val = data
    spec = preset("ms3", upscale=2)
    budget = replace(TINY, iterations=30)
    quiet = train_proxy(spec, budget, train, val, seed=5, device="cpu")
    capsys.readouterr()
    shown = train_proxy(spec, budget, train, val, seed=5, device="cpu", progress_lines=1e-9)
    lines = capsys.readouterr().err.splitlines()
    # a line at each loss reading (every 10 iterations) but not at the end: iterations 1, 11, 21
    assert [line.split(",")[0] for line in lines] == ["iteration 1/30", "iteration 11/30", "iteration 21/30"]
    assert all(re.fullmatch(r"iteration \d+/30, loss \d+\.\d{4}, \d+\.\d\d s/it, ETA \d+ s", x) for x in lines)
    assert "\r" not in "".join(lines)
    assert shown.psnr == quiet.psnr and shown.val_curve == quiet.val_curve


def test_keep_going_stops_a_run_at_a_validation_and_changes_nothing_when_it_says_yes(data):
    train, val = data
    spec = preset("ms3", upscale=2)
    plain = train_proxy(spec, TINY, train, val, seed=5, device="cpu")
    asked: list[int] = []

    def ask(iterations: int, psnr: float) -> bool:
        asked.append(iterations)
        return True

    kept = train_proxy(spec, TINY, train, val, seed=5, device="cpu", keep_going=ask)
    assert asked == [2, 4, 6] and kept.psnr == plain.psnr and kept.val_curve == plain.val_curve  # stops of 8
    with pytest.raises(StoppedEarly) as stopped:
        train_proxy(spec, TINY, train, val, seed=5, device="cpu", keep_going=lambda t, p: t < 4)
    assert stopped.value.iterations == 4 and stopped.value.curve == plain.val_curve[:2]


def test_scoring_runs_the_model_once_per_image_and_matches_separate_passes(data, monkeypatch):
    """The protocol's PSNR and the per-region PSNRs degrade the same images: one forward each serves both."""
    from nas.sr import evaluation
    from nas.sr.region_scores import region_psnrs
    from nas.training import proxy

    train, val = data
    model, log = fit_proxy(preset("ms3", upscale=2), TINY, train, seed=1, device="cpu")
    calls = []
    real = evaluation.model_upscaler

    def counted(*args, **kwargs):
        upscale = real(*args, **kwargs)

        def run(lr):
            calls.append(1)
            return upscale(lr)

        return run

    monkeypatch.setattr(proxy, "model_upscaler", counted)
    result = score_proxy(model, log, val, torch.device("cpu"), 1, TINY)
    assert len(calls) == len(val.images)
    alone = real(model, torch.device("cpu"))
    assert result.psnr == evaluation.evaluate_images(val.images, val.scale, alone).psnr
    assert dict(result.per_region) == region_psnrs(val.images, val.scale, alone)


def test_a_trials_region_psnrs_are_the_region_analysis_psnrs(data):
    """A trial records per-region PSNRs from squared errors alone; they are, to the bit, the PSNRs of the region
    analysis, which also builds SSIM and GMS maps."""
    from nas.sr import evaluation
    from nas.sr.held_out import validation_images
    from nas.sr.region_scores import ALL, Measured, measure_image, per_class, region_psnrs

    photos = validation_images(())  # the bundled photos: every class has tiles in them
    model, _ = fit_proxy(preset("ms3", upscale=2), TINY, data[0], seed=1, device="cpu")
    upscale = evaluation.model_upscaler(model, torch.device("cpu"))
    measured = Measured(("model",))
    for name, img in photos:
        measure_image(measured, name, img, 2, {"model": upscale})
    analysed = {region: scores["model"].psnr for region, scores in per_class(measured).items() if region != ALL}
    assert len(analysed) >= 3 and region_psnrs(photos, 2, upscale) == analysed, analysed


def test_the_curve_measures_the_psnr_that_evaluation_does(data):
    """A learning curve's checkpoint (PSNR only, images degraded once) is the same number as the full evaluation."""
    from backbones import build_model
    from nas.sr.evaluation import bicubic_upscaler, evaluate_images, mean_psnr, model_upscaler

    _, val = data
    torch.manual_seed(0)
    model = build_model(preset("ms3", upscale=2, width=8, blocks=1)).eval()
    for upscale in (bicubic_upscaler(val.scale), model_upscaler(model, torch.device("cpu"))):
        assert mean_psnr(val.prepared, val.scale, upscale) == evaluate_images(val.images, val.scale, upscale).psnr
