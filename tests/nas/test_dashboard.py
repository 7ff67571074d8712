"""A real optuna-dashboard server on a study made by the real search: attrs, artifacts, front, report figures."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from optuna.study import StudyDirection
from optuna.trial import create_trial
from optuna_dashboard._pareto_front import get_pareto_front_trials

from nas.output.dashboard import in_page_order, without_repeats
from nas.report import main as report_main
from nas.search.__main__ import main as search_main
from nas.study import keys
from space import analytic_cost, load_spec
from studies import STUDIES, StudyDef, register

pytestmark = pytest.mark.slow

NAME = "tiny-budget"
BUDGET_GMACS = 0.3  # tiny's standard network (0.49 G MACs) is over; its 2-scale points (0.22-0.23 G) are under
START_SECONDS = 30.0
REPORT_FIGURES = (
    "msnas-table",
    "msnas-pareto-macs",
    "msnas-pareto-params",
    "msnas-hypervolume",
    "msnas-front-matrices",
)


def budget_study() -> StudyDef:
    """The tiny study under a MACs budget that rejects the standard network."""
    definition = dataclasses.replace(STUDIES["tiny"], name=NAME, max_gmacs=BUDGET_GMACS)
    macs = {spec.scales: analytic_cost(spec).macs for _, spec in definition.space.uniform_points()}
    assert macs[1] > BUDGET_GMACS * 1e9 > macs[2]
    return definition


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Four trials of the real search (standard PRUNED over budget, the rest COMPLETE), then the report."""
    root = tmp_path_factory.mktemp("dashboard")
    url, artifacts = f"sqlite:///{root / 'study.db'}", root / "artifacts"
    register(budget_study())
    try:
        argv = ["--study", NAME, "--storage", url, "--n-trials", "4", "--artifacts", str(artifacts)]
        assert search_main(argv) == 0
        assert report_main(["--study", NAME, "--storage", url, "--out", str(root / "report.html")]) == 0
    finally:
        STUDIES.pop(NAME)
    return url, artifacts


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(base: str, path: str) -> bytes:
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return bytes(response.read())


def get_json(base: str, path: str) -> Any:
    return json.loads(get(base, path))


def wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /api/meta until it answers, the server exits, or the start timeout passes."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"optuna-dashboard exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            get(base, "/api/meta")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"optuna-dashboard did not answer within {START_SECONDS} s: {log.read_text()[-2000:]}")


@contextmanager
def running_dashboard(url: str, artifacts: Path, log: Path) -> Iterator[str]:
    """``nas.dashboard`` (optuna-dashboard, figures in page order) on 127.0.0.1 with the artifact folder, its
    base URL; always terminated."""
    port = free_port()
    argv = [sys.executable, "-m", "nas.dashboard", "--storage", url, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--artifacts", str(artifacts)]
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


@pytest.fixture(scope="module")
def server(searched: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard of the searched study."""
    url, artifacts = searched
    with running_dashboard(url, artifacts, tmp_path_factory.mktemp("server") / "dashboard.log") as base:
        yield base


@pytest.fixture(scope="module")
def detail(server: str) -> dict[str, Any]:
    """``/api/studies/<id>`` of the search's study."""
    summaries = get_json(server, "/api/studies")["study_summaries"]
    study_id = next(s["study_id"] for s in summaries if s["study_name"] == NAME)
    data: dict[str, Any] = get_json(server, f"/api/studies/{study_id}")
    data["study_id"] = study_id
    return data


def attrs(trial: dict[str, Any]) -> dict[str, str]:
    return {a["key"]: a["value"] for a in trial["user_attrs"]}


def by_state(detail: dict[str, Any], state: str) -> list[dict[str, Any]]:
    return [t for t in detail["trials"] if t["state"] == state]


def test_study_is_listed(server: str):
    names = [s["study_name"] for s in get_json(server, "/api/studies")["study_summaries"]]
    assert NAME in names


def test_trials_carry_their_user_attrs(detail: dict[str, Any]):
    complete, pruned = by_state(detail, "Complete"), by_state(detail, "Pruned")
    assert len(complete) >= 2 and pruned
    for trial in complete:
        a = attrs(trial)
        assert {"spec", "spec_hash", "macs", "params", "psnr", "ssim", "proxy"} <= set(a)
        assert load_spec(a["spec"]).spec_hash == a["spec_hash"]
    assert all(attrs(t)["rejected"].startswith("over budget") for t in pruned)
    assert "standard" in {attrs(t).get("preset") for t in pruned}


def test_artifacts_are_listed_and_downloadable(server: str, detail: dict[str, Any]):
    trial = next(t for t in by_state(detail, "Complete") if keys.DUPLICATE_OF not in attrs(t))
    files = {a["filename"]: a["artifact_id"] for a in trial["artifacts"]}
    assert set(files) == {"spec.json", "proxy.json"}
    prefix = f"/artifacts/{detail['study_id']}/{trial['trial_id']}/"
    spec = load_spec(get(server, prefix + files["spec.json"]).decode())
    assert spec.spec_hash == attrs(trial)["spec_hash"]
    proxy = json.loads(get(server, prefix + files["proxy.json"]))
    assert proxy["psnr"] == pytest.approx(float(attrs(trial)["psnr"]))


def test_front_holds_no_pruned_trial(server: str, detail: dict[str, Any]):
    pruned = {t["number"] for t in by_state(detail, "Pruned")}
    best = detail["best_trials"]
    assert best and all(t["state"] == "Complete" and keys.REJECTED not in attrs(t) for t in best)
    assert not pruned & {t["number"] for t in best}
    plot = json.dumps(get_json(server, f"/api/studies/{detail['study_id']}/plot/pareto_front"))
    assert all(f'\\"number\\": {t["number"]},' in plot for t in best)  # optuna's hover text names each point
    assert not any(f'\\"number\\": {n},' in plot for n in pruned)


def test_front_lists_each_architecture_once(detail: dict[str, Any]):
    best = detail["best_trials"]
    assert not any(keys.DUPLICATE_OF in attrs(t) for t in best)
    assert len({attrs(t)["spec_hash"] for t in best}) == len(best)


def test_best_trials_leave_out_repeats():
    """A repeat has its original's values: optuna-dashboard's own front lists both, nas.dashboard's the first."""
    directions = [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    trials = [create_trial(values=[30.0, 2.0]), create_trial(values=[29.0, 1.0]), create_trial(values=[30.0, 2.0])]
    trials[2].set_user_attr(keys.DUPLICATE_OF, 0)
    for number, t in enumerate(trials):
        t.number = number
    assert [t.number for t in get_pareto_front_trials(trials=trials, directions=directions)] == [0, 1, 2]
    front = without_repeats(get_pareto_front_trials)
    assert [t.number for t in front(trials=trials, directions=directions)] == [0, 1]


def test_report_figures_are_shown(detail: dict[str, Any]):
    ids = {g["id"] for g in detail["plotly_graph_objects"]}
    assert set(REPORT_FIGURES) <= ids


def test_figures_come_in_page_order(detail: dict[str, Any]):
    """optuna-dashboard itself lists them in a set's order (a new one each start); nas.dashboard sorts them."""
    ids = [g["id"] for g in detail["plotly_graph_objects"]]
    assert ids == in_page_order(ids) and ids[: len(REPORT_FIGURES)] == list(REPORT_FIGURES)


def test_page_order_of_figure_ids():
    ids = ["analyze-edf-x3", "other", "msnas-regions", "analyze-error-vs-macs", "analyze-edf", "msnas-pareto-macs"]
    assert in_page_order(ids) == [
        "msnas-pareto-macs",
        "msnas-regions",
        "analyze-edf",
        "analyze-error-vs-macs",
        "analyze-edf-x3",
        "other",
    ]
