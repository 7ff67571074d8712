"""One tiny search, its report, its analysis and an optuna-dashboard server, read by a real headless Chromium.

Chromium is the system's (Debian's ``chromium`` package, or ``MSNAS_CHROMIUM``), driven by Playwright's
Python client; no browser is downloaded. ``.ci/run`` installs it when missing, so in CI a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from nas.analyze import main as analyze_main
from nas.report import main as report_main
from nas.search.__main__ import main as search_main
from tests.nas.test_dashboard import free_port, wait_until_up

STUDY = "tiny"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


@dataclass(frozen=True)
class Searched:
    """What the tiny search left: its storage, artifact folder, report page and analysis page."""

    url: str
    artifacts: Path
    report: Path
    analysis: Path


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
    """The tiny study searched for real (named variants queued first), then nas.report and nas.analyze on it."""
    root = tmp_path_factory.mktemp("browser")
    url, artifacts = f"sqlite:///{root / 'study.db'}", root / "artifacts"
    store = ["--storage", url]
    argv = ["--study", STUDY, *store, "--n-trials", "5", "--device", "cpu", "--artifacts", str(artifacts)]
    assert search_main(argv) == 0
    assert report_main(["--study", STUDY, *store, "--out", str(root / "report.html")]) == 0
    out = root / "analysis"
    assert analyze_main(["--study", STUDY, *store, "--out", str(out), "--boot", "50", "--perm", "100"]) == 0
    return Searched(url, artifacts, root / "report.html", out / "analysis.html")


@pytest.fixture(scope="session")
def dashboard(searched: Searched, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """optuna-dashboard on 127.0.0.1 serving the searched study (report and analysis figures saved in it)."""
    exe = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    assert exe is not None, "optuna-dashboard is not installed beside this Python"
    port = free_port()
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    argv = [exe, searched.url, "--host", "127.0.0.1", "--port", str(port), "--artifact-dir", str(searched.artifacts)]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
