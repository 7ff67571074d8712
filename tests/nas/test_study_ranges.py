"""Every study-file and proxy-budget number is range-checked before anything is made (one line naming the field and
its range, exit 2, no storage written), and a search whose every trial failed does not exit 0."""

from __future__ import annotations

import contextlib
import io
import math
import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest

from nas.search.__main__ import main as search_main
from nas.search.recovery import all_failed
from nas.study import keys
from studies import STUDIES
from studies.budget import BOUNDS, ProxyBudget, budget_problem
from studies.files import StudyFileError, dumps, loads

TINY = dumps(STUDIES["tiny"])
CPU = "[cpu_proxy]\n"


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = search_main(argv)
    return code, out.getvalue(), err.getvalue()


def in_cpu_proxy(line: str, table: str = CPU) -> str:
    """The tiny study file with ``line`` replacing its CPU budget's field of that name."""
    field = line.split("=")[0].strip()
    head, tail = TINY.split(table)
    body, rest = tail.split("\n\n", 1)
    rows = [row for row in body.split("\n") if not row.startswith(f"{field} =")]
    return head + table + "\n".join([line, *rows]) + "\n\n" + rest


BAD_FILES = [  # (file text, what the one line says)
    (TINY.replace("width = 16", "width = 0"), "space.width: 0 must be an integer in 1..4096"),
    (TINY.replace("blocks = 1\n", "blocks = -1\n", 1), "space.blocks: -1 (allowed: 0 (the backbone's own) or 1..512)"),
    (TINY.replace("upscale = 2", "upscale = 5"), "space.upscale: 5 (allowed: 2, 3, 4)"),
    (TINY.replace('backbone = "srresnet"', 'backbone = "vgg"'), "space.backbone: 'vgg' (allowed: srresnet, carn)"),
    (TINY.replace("[space]\n", "[space]\nwidth_per_branch = 0\n"), "space.width_per_branch: 0 (allowed: 1..4096"),
    (TINY.replace("n_trials = 4", "n_trials = 10000000"), "n_trials: 10000000 (allowed: 1..1000000)"),
    ("max_gmacs = nan\n" + TINY, "max_gmacs: nan must be a finite positive number"),
    ("max_mparams = inf\n" + TINY, "max_mparams: inf must be a finite positive number"),
    (in_cpu_proxy("peak_lr = inf"), "cpu_proxy.peak_lr: inf (allowed: above 0 up to 1)"),
    (in_cpu_proxy("peak_lr = nan"), "cpu_proxy.peak_lr: nan (allowed: above 0 up to 1)"),
    (in_cpu_proxy("peak_lr = 0"), "cpu_proxy.peak_lr: 0.0 (allowed: above 0 up to 1)"),
    (in_cpu_proxy("batch = 1000000"), "cpu_proxy.batch: 1000000 (allowed: 1..1024)"),
    (in_cpu_proxy("iterations = -5"), "cpu_proxy.iterations: -5 (allowed: 1..1000000)"),
    (in_cpu_proxy("patch = 0"), "cpu_proxy.patch: 0 (allowed: 1..1024)"),
    (in_cpu_proxy("warmup = 13"), "cpu_proxy.warmup: 13 (allowed: 0..iterations, here 12)"),
    (in_cpu_proxy("min_ratio = 1.5"), "cpu_proxy.min_ratio: 1.5 (allowed: 0..1)"),
    (in_cpu_proxy("width = 0"), "cpu_proxy.width: 0 (allowed: 1..4096 or 'spec')"),
    (in_cpu_proxy("blocks = 513"), "cpu_proxy.blocks: 513 (allowed: 1..512 or 'spec')"),
    (in_cpu_proxy("width = 7"), "cpu_proxy.width: 7 does not fit the point scales=2"),  # 2 branches: 3.5 channels
    (in_cpu_proxy("batch = 0", "[gpu_proxy]\n"), "gpu_proxy.batch: 0 (allowed: 1..1024)"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_an_out_of_range_study_file_is_refused_before_any_study_is_made(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = run(["--study-file", str(path), "--storage", f"sqlite:///{tmp_path}/s.db"])
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"nas.search: error: --study-file: {path}: ") and message in err, err
    assert not (tmp_path / "s.db").exists()  # nothing made: the corrected file may take the name


BAD_PROXY = [  # (--proxy items, what the one line says)
    (["peak_lr=inf"], "--proxy: peak_lr: inf (allowed: above 0 up to 1)"),
    (["peak_lr=nan"], "--proxy: peak_lr: nan (allowed: above 0 up to 1)"),
    (["batch=1000000"], "--proxy: batch: 1000000 (allowed: 1..1024)"),
    (["batch=10**6"], "--proxy: batch: '10**6' must be an integer"),
    (["iterations=-1"], "--proxy: iterations: -1 (allowed: 1..1000000)"),
    (["iterations=4", "warmup=5"], "--proxy: warmup: 5 (allowed: 0..iterations, here 4)"),
    (["width=0"], "--proxy: width: 0 (allowed: 1..4096 or 'spec')"),
    (["width=7"], "--proxy: cpu_proxy.width: 7 does not fit the point"),
    (["schedule=linear"], "--proxy: schedule: 'linear' (allowed: cosine, step, constant, wsd)"),
    (["lr=1e-3"], "--proxy: lr: no such field of the proxy budget (fields: iterations, batch, patch, peak_lr,"),
    (["iterations"], "--proxy: 'iterations' must read FIELD=VALUE (fields: iterations, batch,"),
]


@pytest.mark.parametrize(("items", "message"), BAD_PROXY, ids=[m for _, m in BAD_PROXY])
def test_an_out_of_range_proxy_flag_is_refused_before_any_study_is_made(tmp_path: Path, items, message: str):
    argv = ["--study", "tiny", "--storage", f"sqlite:///{tmp_path}/s.db"]
    for item in items:
        argv += ["--proxy", item]
    code, out, err = run(argv)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("nas.search: error: ") and message in err, err
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_built_in_budget_is_in_range(name: str):
    study = STUDIES[name]
    assert budget_problem(study.cpu_proxy) == budget_problem(study.gpu_proxy) == ""
    assert loads(dumps(study)) == study  # and the whole definition passes the file's checks


@pytest.mark.parametrize("field", list(BOUNDS))
def test_each_bound_holds_at_its_ends_and_not_beyond(field: str):
    """The ends are allowed; just beyond them, and NaN or infinity, are not (named with the range)."""
    bounds = BOUNDS[field]
    roomy = ProxyBudget(iterations=1_000_000, warmup=0)  # room for the warm-up's own range
    step = 1e-9 if field in ("peak_lr", "min_ratio") else 1
    ends = [bounds.high] if bounds.open_low else [bounds.low, bounds.high]
    for value in ends:
        changes: dict[str, Any] = {field: value}
        assert budget_problem(replace(roomy, **changes)) == "", value
    for value in (bounds.low - step if not bounds.open_low else bounds.low, bounds.high + step, math.nan, math.inf):
        changes = {field: value}
        problem = budget_problem(replace(roomy, **changes))
        assert problem.startswith(f"{field}: ") and f"(allowed: {bounds}" in problem, (value, problem)


def test_proxy_flag_values_read_as_a_study_file_reads_them():
    from studies.files import proxy_overrides, with_proxy

    items = ["iterations=30", "batch = 8", "peak_lr=1e-3", "schedule=wsd", 'width="spec"', "blocks=spec"]
    changed = with_proxy(STUDIES["ms3"], proxy_overrides(items))
    for budget in (changed.cpu_proxy, changed.gpu_proxy):  # both devices' budgets
        assert (budget.iterations, budget.batch, budget.peak_lr, budget.schedule) == (30, 8, 1e-3, "wsd")
        assert budget.width is None and budget.blocks is None
    assert (changed.cpu_proxy.warmup, changed.gpu_proxy.warmup) == (5, 1)  # 50 of 300, 100 of 4000: the same share
    assert with_proxy(STUDIES["ms3"], proxy_overrides(["iterations=30", "warmup=0"])).cpu_proxy.warmup == 0
    assert replace(changed, cpu_proxy=STUDIES["ms3"].cpu_proxy, gpu_proxy=STUDIES["ms3"].gpu_proxy) == STUDIES["ms3"]
    with pytest.raises(StudyFileError, match="iterations: 0 "):
        with_proxy(STUDIES["ms3"], proxy_overrides(["iterations=0"]))


def test_a_run_whose_every_trial_failed_says_why(tmp_path: Path):
    """``all_failed`` reads this process's trials finished during the run; one that did not fail clears it."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/f.db", directions=["maximize", "minimize"])
    here = {keys.WORKER_HOST: socket.gethostname(), keys.WORKER_PID: os.getpid()}
    before = optuna.trial.create_trial(values=[1.0, 1.0], user_attrs=here)
    study.add_trial(before)
    elsewhere = {keys.WORKER_HOST: socket.gethostname(), keys.WORKER_PID: -1, keys.FAIL_REASON: "another's"}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=elsewhere))
    finished = {0}
    assert all_failed(study, finished) == ""  # nothing of this run finished
    for reason in ("ValueError: one", "DivergenceError: two"):
        attrs = {**here, keys.FAIL_REASON: reason}
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=attrs))
    said = all_failed(study, finished)
    assert said == "all 2 trials of this run failed, the last with: DivergenceError: two (and 1 other reason)"
    study.add_trial(optuna.trial.create_trial(values=[2.0, 1.0], user_attrs=here))
    assert all_failed(study, finished) == ""
