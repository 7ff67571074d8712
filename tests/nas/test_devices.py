"""``nas.search --devices cpu,cpu``: one worker process per device on one storage, one view, clean Ctrl-C."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import optuna
import pytest

from nas.search.__main__ import main, shares, worker_argvs
from nas.search.devices import parse_devices, worker_env
from nas.search.progress import PROGRESS_LINES_ENV, in_trial_progress
from nas.study import keys
from nas.study.storage import storage_for
from studies import STUDIES
from tests import warm
from tests.warm import Command

ROOT = Path(__file__).resolve().parents[2]
TRAINED = re.compile(r"^\[(w\d) cpu\] \[\d+/\d+\] trial (\d+) ", re.MULTILINE)  # a worker's counted trial
ANY_TRIAL = re.compile(r"^\[(w\d) cpu\] \[(?:\d+/\d+|not counted)\] trial (\d+) ", re.MULTILINE)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """``--devices cpu,cpu --n-trials 2`` (one training per worker) on a fresh SQLite file: (db, stdout, stderr)."""
    tmp = tmp_path_factory.mktemp("devices")
    db = tmp / "study.db"
    cmd = [sys.executable, "-m", "nas.search", "--study", "tiny", "--storage", f"sqlite:///{db}", "--n-trials", "2"]
    cmd += ["--artifacts", str(tmp / "artifacts"), "--devices", "cpu,cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launcher = warm.popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = launcher.communicate(timeout=240)  # the launcher warm; its workers start cold (their parent's death)
    assert launcher.returncode == 0, err[-3000:]
    return db, out, err


def test_two_cpu_workers_share_one_study_in_one_view(searched):
    db, out, err = searched
    assert err.startswith("2 workers on one study, 2 trainings in all: w0 cpu (1), w1 cpu (1)\n")
    every = optuna.load_study(study_name="tiny", storage=storage_for(f"sqlite:///{db}")).get_trials()
    trials = [t for t in every if t.state != optuna.trial.TrialState.WAITING]  # named variants still queued
    assert trials and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # each worker trained (its lines prefixed with it), each trial ran in one worker, from two processes
    trained = TRAINED.findall(err)
    assert {w for w, _ in trained} == {"w0", "w1"} and len(trained) == 2
    ran = sorted(int(n) for _, n in ANY_TRIAL.findall(err))
    assert ran == list(range(len(trials))), err
    assert len({t.user_attrs[keys.WORKER_PID] for t in trials if keys.WORKER_PID in t.user_attrs}) == 2
    # one summary, of the whole study, printed by the launcher (the workers' own are not shown)
    assert out.count("tiny: ") == 1 and out.startswith(f"tiny: {len(every)} trials ({len(trials)} complete, ")


def test_a_device_of_another_budget_is_refused_with_one_line(searched, tmp_path, capsys):
    """cpu and cuda train ms3 with different budgets: refused before any worker starts (no GPU needed)."""
    assert STUDIES["ms3"].proxy_for("cpu") != STUDIES["ms3"].proxy_for("cuda")
    url = f"sqlite:///{tmp_path}/none.db"
    assert main(["--study", "ms3", "--storage", url, "--devices", "cpu,cuda:0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nas.search: error: --devices: the cpu and cuda workers")

    # a study trained with another budget (a GPU's, here written as such a study would hold it) refuses cpu workers
    copy = tmp_path / "study.db"
    shutil.copyfile(searched[0], copy)
    study = optuna.load_study(study_name="tiny", storage=storage_for(f"sqlite:///{copy}"))
    other = {**STUDIES["tiny"].proxy_for("cpu").as_dict(), "iterations": 4000}
    study.set_user_attr(keys.STUDY_PROXY, other)
    assert main(["--study", "tiny", "--storage", f"sqlite:///{copy}", "--devices", "cpu,cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained with another proxy budget (iterations 4000 here 12)" in err


def start_two_workers(tmp_path: Path, err: IO[bytes], study: list[str] | None = None) -> Command:
    """A ``--devices cpu,cpu`` launcher of a long search, returned once both workers have started a trial."""
    cmd = [
        sys.executable,
        "-m",
        "nas.search",
        *(study or ["--study", "tiny"]),
        "--storage",
        f"sqlite:///{tmp_path}/study.db",
    ]
    cmd += ["--n-trials", "20", "--artifacts", str(tmp_path / "artifacts"), "--devices", "cpu,cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = warm.popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    log, deadline = Path(err.name), time.monotonic() + 120
    while {"[w0 cpu] trial", "[w1 cpu] trial"} - set(re.findall(r"\[w\d cpu\] trial", log.read_text())):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)
    return proc


def worker_trials(tmp_path: Path, name: str = "tiny") -> tuple[list[int], set[int]]:
    """The trials left neither finished nor waiting, and the workers' process ids."""
    trials = optuna.load_study(study_name=name, storage=storage_for(f"sqlite:///{tmp_path}/study.db")).get_trials()
    unfinished = [t.number for t in trials if not t.state.is_finished() and t.state.name != "WAITING"]
    return unfinished, {t.user_attrs[keys.WORKER_PID] for t in trials if keys.WORKER_PID in t.user_attrs}


def test_ctrl_c_stops_every_worker_and_leaves_no_trial_running(tmp_path):
    log = tmp_path / "err"
    with log.open("wb") as err:
        proc = start_two_workers(tmp_path, err)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=150) == 130, log.read_text()[-3000:]
    text = log.read_text()
    assert text.rstrip().endswith("nas.search: interrupted; finished trials are saved, run the same command to go on")
    unfinished, pids = worker_trials(tmp_path)
    assert not unfinished
    assert len(pids) == 2 and not [p for p in pids if Path(f"/proc/{p}").exists()], "a worker outlived the launcher"


def test_devices_parse_and_pin():
    devices = parse_devices("cpu, cuda:1,cuda")
    assert [(d.kind, d.index, d.label) for d in devices] == [
        ("cpu", None, "w0 cpu"),
        ("cuda", 1, "w1 cuda:1"),
        ("cuda", None, "w2 cuda"),
    ]
    with pytest.raises(ValueError, match="'gpu0' is not a device"):
        parse_devices("cpu,gpu0")
    assert worker_env(devices[1], 1)["CUDA_VISIBLE_DEVICES"] == "1"
    assert PROGRESS_LINES_ENV not in worker_env(devices[0], 1)  # pytest's stderr is no terminal


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_workers_of_a_launcher_on_a_terminal_print_progress_lines(monkeypatch):
    """Their stderr is a pipe, so they would show no bar; the launcher asks for lines, which its relay passes."""
    monkeypatch.delenv(PROGRESS_LINES_ENV, raising=False)
    assert in_trial_progress() == (False, 0.0)
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert worker_env(parse_devices("cpu")[0], 1)[PROGRESS_LINES_ENV] == "20.0"
    assert in_trial_progress() == (True, 0.0)  # a worker on a terminal of its own shows the bar
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setenv(PROGRESS_LINES_ENV, "20.0")
    assert in_trial_progress() == (False, 20.0)
    monkeypatch.setenv(PROGRESS_LINES_ENV, "soon")
    assert in_trial_progress() == (False, 0.0)
    argv = ["--study", "x", "--devices", "cpu,cpu", "--n-trials", "2", "--devices=cpu", "--n-trials=9", "--seed", "1"]
    assert worker_argvs(argv, [4, 3], 1) == [  # one training seed, a sampler seed each
        ["--study", "x", "--seed", "1", "--n-trials", "4", "--sampler-seed", "1"],
        ["--study", "x", "--seed", "1", "--n-trials", "3", "--sampler-seed", "2"],
    ]
    assert worker_argvs([*argv, "--sampler-seed", "7"], [1, 1], 7)[1][-2:] == ["--sampler-seed", "8"]


def test_n_trials_are_shared_by_the_workers():
    assert shares(7, 2) == [4, 3]
    assert shares(8, 2) == [4, 4]
    assert shares(2, 3) == [1, 1, 0]
    assert sum(shares(40, 3)) == 40
