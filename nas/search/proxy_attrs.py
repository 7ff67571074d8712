"""How a proxy run becomes a stored record: the user attributes and objective values that a search trial, a
re-training (``nas.fidelity``) and a race's run (``nas.verdict``) store alike, so the three never drift apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from nas.jsonvalues import finite_or_none
from nas.sr import region_classes
from nas.study import keys
from nas.study.objectives import objectives_of
from nas.study.versions import library_versions
from nas.training.proxy import ProxyResult
from studies.budget import ProxyBudget


def region_attrs(result: ProxyResult) -> dict[str, float | str | None]:
    """The user attributes of a proxy run's per-region validation PSNRs (None where a region was reproduced exactly),
    and the rules that classed the regions, so that runs classed by other rules are never taken for comparable."""
    psnrs: dict[str, float | str | None] = {keys.region_key(r): finite_or_none(psnr) for r, psnr in result.per_region}
    return {**psnrs, keys.REGION_RULES: region_classes.RULES} if psnrs else psnrs


def proxy_attrs(result: ProxyResult, budget: ProxyBudget, seed: int) -> dict[str, Any]:
    """The user attributes of one proxy run of ``budget`` with ``seed``: its scores, curves, time and where it ran."""
    return {
        keys.PSNR_KEY: result.psnr,
        keys.SSIM: result.ssim,
        keys.PER_IMAGE_PSNR: {name: psnr for name, psnr, _ in result.per_image},
        keys.VAL_CURVE: [list(point) for point in result.val_curve],
        keys.LOSS_CURVE: [list(point) for point in result.loss_points],
        **region_attrs(result),
        keys.BICUBIC_PSNR: result.bicubic_psnr,
        keys.GAIN: result.gain,
        keys.PROXY: budget.as_dict(),
        keys.TRAIN_SECONDS: result.train_seconds,
        keys.SAMPLES_PER_SECOND: result.samples_per_second,
        keys.DEVICE: result.device,
        keys.SEED: seed,
        keys.VERSIONS: library_versions(),
    }


def objective_values(study: optuna.Study, measured: Mapping[str, float]) -> list[float]:
    """A trial's values in ``study``'s own objective order, each read by its objective's name from ``measured``."""
    return [float(measured[o.name]) for o in objectives_of(study)]
