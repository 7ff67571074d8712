"""One tiny search, a hand-made ms3 study, their reports, an analysis, a verdict and an optuna-dashboard server, read
by a real headless Chromium.

Chromium is the system's (Debian's ``chromium`` package, or ``MSNAS_CHROMIUM``), driven by Playwright's
Python client; no browser is downloaded. ``.ci/run`` installs it when missing, so in CI a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution
from playwright.sync_api import Browser, sync_playwright

from nas.analyze import main as analyze_main
from nas.report import main as report_main
from nas.search.__main__ import main as search_main
from nas.study import keys
from nas.study.naming import named_points
from nas.verdict import main as verdict_main
from space import analytic_cost
from studies import DIRECTIONS, STUDIES
from tests.nas.test_dashboard import running_dashboard

SEARCHED, HAND_MADE = "tiny", "ms3"  # a real search; the paper's space with results from BENCHMARKS.md
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# proxy PSNRs of the default CPU search on ms3 (BENCHMARKS.md, 2026-11-26); the unnamed points get 29.83-29.96
NAMED_PSNR = {"standard": 30.087, "ms": 29.977, "ms2-no-lh": 30.119, "ms2-no-hl": 29.951, "ms2": 29.854,
              "ms3": 29.701, "ms3-l": 29.850}  # fmt: skip


@dataclass(frozen=True)
class Searched:
    """The storage (both studies), the tiny search's artifact folder, each study's report and the analysis page."""

    url: str
    artifacts: Path
    reports: dict[str, Path]
    analysis: Path
    verdict: Path


def hand_made_ms3(url: str) -> None:
    """Every architecture of the ms3 space with a made-up proxy result and no training: a front of many points and
    dominated named variants, as `make run` leaves (15 matrices, not the tiny space's 5)."""
    definition = STUDIES[HAND_MADE]
    names, points = named_points(definition), list(definition.space.uniform_points())
    choices: dict[str, list[Any]] = {}
    for choice, _ in points:
        for key, value in choice.items():
            choices.setdefault(f"unit.{key}", []).append(value)
    space = {key: CategoricalDistribution(list(dict.fromkeys(values))) for key, values in choices.items()}
    study = optuna.create_study(study_name=HAND_MADE, storage=url, directions=list(DIRECTIONS))
    for i, (choice, spec) in enumerate(points):
        cost, name = analytic_cost(spec), names.get(spec.spec_hash)
        psnr = NAMED_PSNR[name] if name else 29.83 + 0.016 * (i % 9)
        attrs = {keys.SPEC: spec.canonical_json, keys.SPEC_HASH: spec.spec_hash, keys.MACS_KEY: cost.macs,
                 keys.PARAMS_KEY: cost.params, keys.PSNR_KEY: psnr, keys.SSIM: 0.85, keys.GAIN: psnr - 29.376,
                 **({keys.PRESET: name} if name else {})}  # fmt: skip
        params = {f"unit.{key}": value for key, value in choice.items()}
        distributions: dict[str, BaseDistribution] = {key: space[key] for key in params}  # as the seam records
        trial = optuna.trial.create_trial(
            params=params, distributions=distributions, values=[psnr, cost.macs, cost.params], user_attrs=attrs
        )
        study.add_trial(trial)


def chromium_path() -> str | None:
    """MSNAS_CHROMIUM, else the first Chromium on PATH."""
    chosen = os.environ.get("MSNAS_CHROMIUM")
    if chosen:
        return chosen
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """The system's Chromium, headless; a missing one fails in CI (.ci/run installs it) and skips elsewhere."""
    exe = chromium_path()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no chromium is on PATH: .ci/run must install it (apt-get install chromium)")
        pytest.skip("no chromium on PATH (apt-get install chromium, or set MSNAS_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Searched:
    """The tiny study searched for real (named variants queued first) and the hand-made ms3 study in one storage;
    nas.report on both, nas.analyze on the tiny one."""
    root = tmp_path_factory.mktemp("browser")
    url, artifacts = f"sqlite:///{root / 'study.db'}", root / "artifacts"
    store = ["--storage", url]
    argv = ["--study", SEARCHED, *store, "--n-trials", "5", "--device", "cpu", "--artifacts", str(artifacts)]
    assert search_main(argv) == 0
    hand_made_ms3(url)
    reports = {name: root / f"{name}.html" for name in (SEARCHED, HAND_MADE)}
    for name, page in reports.items():
        assert report_main(["--study", name, *store, "--out", str(page)]) == 0
    out = root / "analysis"
    assert analyze_main(["--study", SEARCHED, *store, "--out", str(out), "--boot", "50", "--perm", "100"]) == 0
    # the verdict from the search's own runs (one seed each: every pair open), its figures saved in the study too
    verdict = ["--study", SEARCHED, *store, "--budgets", "1", "--report-only", "--out", str(root / "verdict")]
    assert verdict_main([*verdict, "--quiet"]) == 0
    return Searched(url, artifacts, reports, out / "analysis.html", root / "verdict" / "verdict.html")


@pytest.fixture(scope="session")
def dashboard(searched: Searched, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """optuna-dashboard on 127.0.0.1 serving the searched study (report and analysis figures saved in it)."""
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    with running_dashboard(searched.url, searched.artifacts, log) as base:
        yield base
