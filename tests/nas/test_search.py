"""The search on the tiny study: 4 real trials, their records, budgets, repeats and resumption."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from nas.measure.zero_cost import ZC_NAMES
from nas.search.__main__ import main
from nas.study import keys
from nas.study.storage import storage_for
from nas.training import loop
from space import analytic_cost, preset
from studies import STUDIES, register
from tests import warm

REQUIRED_ATTRS = (
    keys.SPEC,
    keys.SPEC_HASH,
    keys.MACS_KEY,
    keys.PARAMS_KEY,
    keys.FVCORE_TOTAL,
    keys.PTFLOPS_TOTAL,
    keys.PSNR_KEY,
    keys.SSIM,
    keys.PROXY,
    keys.TRAIN_SECONDS,
    keys.DEVICE,
    keys.SEED,
    keys.VERSIONS,
    keys.PER_IMAGE_PSNR,
    keys.ZC_SECONDS,
    *(keys.zc_key(name) for name in ZC_NAMES),
)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> tuple[str, optuna.Study, Path]:
    root = tmp_path_factory.mktemp("search")
    url = f"sqlite:///{root}/study.db"
    assert main(["--study", "tiny", "--storage", url, "--n-trials", "4", "--artifacts", str(root / "art")]) == 0
    return url, optuna.load_study(study_name="tiny", storage=storage_for(url)), root


@pytest.mark.slow
def test_four_complete_trials_with_their_records(tiny_study):
    _, study, _ = tiny_study
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    for t in trials:
        missing = [k for k in REQUIRED_ATTRS if k not in t.user_attrs]
        assert not missing, f"trial {t.number} lacks {missing}"
        assert (
            t.values is not None
            and t.values[1] == t.user_attrs[keys.MACS_KEY]
            and t.values[2] == t.user_attrs[keys.PARAMS_KEY]
        )
    assert study.metric_names == ["psnr", "macs", "params"]


@pytest.mark.slow
def test_named_variants_come_first(tiny_study):
    _, study, _ = tiny_study
    assert [t.user_attrs.get(keys.PRESET) for t in study.trials[:3]] == ["standard", "ms", "ms3"]
    ms3 = study.trials[2]
    spec = preset("ms3", "srresnet", 2, 1, 16)
    assert (
        ms3.user_attrs[keys.SPEC_HASH] == spec.spec_hash and ms3.user_attrs[keys.MACS_KEY] == analytic_cost(spec).macs
    )


@pytest.mark.slow
def test_artifacts_are_stored(tiny_study):
    _, study, root = tiny_study
    meta = study.trials[0].system_attrs
    artifacts = [k for k in meta if k.startswith("artifacts:")]
    assert len(artifacts) == 2
    assert sum(1 for p in (root / "art").rglob("*") if p.is_file()) >= 8


@pytest.mark.slow
def test_same_command_resumes_and_repeats_are_not_retrained(tiny_study, capsys):
    """Repeats are answered from storage and cost no training; the tiny space has 5 architectures, so the
    resumed run trains the one left and stops, saying the space is exhausted."""
    url, _, root = tiny_study
    assert main(["--study", "tiny", "--storage", url, "--n-trials", "3", "--artifacts", str(root / "art")]) == 0
    storage = storage_for(url)
    study = optuna.load_study(study_name="tiny", storage=storage)
    repeats = [t for t in study.trials if keys.DUPLICATE_OF in t.user_attrs]
    assert repeats
    for t in repeats:
        original = study.trials[t.user_attrs[keys.DUPLICATE_OF]]
        assert t.values == original.values and t.user_attrs[keys.SPEC_HASH] == original.user_attrs[keys.SPEC_HASH]
        assert keys.TRAIN_SECONDS not in t.user_attrs  # a repeat trained nothing
        # ...and carries the files of the result it repeats (optuna-dashboard shows them on its page)
        files = optuna.artifacts.get_all_artifact_meta(t, storage=storage)
        assert sorted(m.filename for m in files) == ["proxy.json", "spec.json"]
        assert {m.artifact_id for m in files}.isdisjoint(
            m.artifact_id for m in optuna.artifacts.get_all_artifact_meta(original, storage=storage)
        )
    trained = [t for t in study.trials if keys.TRAIN_SECONDS in t.user_attrs]
    assert len(trained) == 5 == len({t.user_attrs[keys.SPEC_HASH] for t in trained}) == len(trained)
    assert len(study.trials) == len(trained) + len(repeats)
    err = capsys.readouterr().err
    assert "resumed" in err and "[1/3] trial" in err and "[2/3]" not in err
    assert "stopped after 1 training: every architecture of the space within the study's budget is evaluated" in err
    assert all(line.startswith("[not counted] ") for line in err.splitlines() if "(repeat of trial" in line)


@pytest.mark.slow
def test_over_budget_trials_never_train_and_are_not_complete(tmp_path):
    tiny = STUDIES["tiny"]
    standard_macs = analytic_cost(preset("standard", "srresnet", 2, 1, 16)).macs
    name = "tiny-budget-test"
    if name not in STUDIES:
        register(replace(tiny, name=name, max_gmacs=(standard_macs - 1) / 1e9))
    url = f"sqlite:///{tmp_path}/b.db"
    assert main(["--study", name, "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "a")]) == 0
    study = optuna.load_study(study_name=name, storage=storage_for(url))
    rejected, trained = [t for t in study.trials if t.state.is_finished()]  # ms3 is still queued
    assert rejected.state == optuna.trial.TrialState.PRUNED and rejected.user_attrs[keys.PRESET] == "standard"
    assert rejected.user_attrs[keys.REJECTED].startswith("over budget") and keys.PSNR_KEY not in rejected.user_attrs
    assert trained.user_attrs[keys.PRESET] == "ms" and keys.PSNR_KEY in trained.user_attrs  # the rejection was free
    assert [t.number for t in study.best_trials] == [trained.number]


def test_list_and_errors(capsys):
    assert main(["--list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("ms3 ")
    assert main(["--study", "nope"]) == 2
    assert main(["--study", "tiny", "--storage", "nosuchdb://x"]) == 2
    assert main(["--study", "tiny", "--n-trials", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("nas.search: error: ") for line in err)


def variant_of_tiny(name: str, **changes) -> str:
    """Register a copy of the tiny study under ``name`` (once per session)."""
    if name not in STUDIES:
        register(replace(STUDIES["tiny"], name=name, **changes))
    return name


@pytest.mark.slow
def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on(tmp_path, capsys):
    diverging = replace(STUDIES["tiny"].cpu_proxy, peak_lr=1e30, warmup=0, schedule="constant")
    name = variant_of_tiny("tiny-diverge-test", cpu_proxy=diverging, gpu_proxy=diverging)
    url = f"sqlite:///{tmp_path}/d.db"
    # the study goes on after the first failure, and a run whose every trial failed does not end as if it had worked
    assert main(["--study", name, "--storage", url, "--n-trials", "2", "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("nas.search: error: ") == 1 and "Traceback" not in err
    assert "all 2 trials of this run failed, the last with: DivergenceError: training diverged" in err
    study = optuna.load_study(study_name=name, storage=storage_for(url))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 2
    assert all(t.state == optuna.trial.TrialState.FAIL for t in finished)
    assert all(t.user_attrs[keys.FAIL_REASON].startswith("DivergenceError: training diverged") for t in finished)


@pytest.mark.slow
def test_latency_is_an_optional_fourth_objective(tmp_path):
    name = variant_of_tiny("tiny-latency-test", latency=True)
    url = f"sqlite:///{tmp_path}/l.db"
    assert main(["--study", name, "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "a")]) == 0
    study = optuna.load_study(study_name=name, storage=storage_for(url))
    assert study.metric_names == ["psnr", "macs", "params", "latency_ms"]
    (trial,) = [t for t in study.trials if t.state.is_finished()]
    assert (
        trial.values is not None and len(trial.values) == 4 and trial.values[3] == trial.user_attrs[keys.LATENCY_MS] > 0
    )
    assert trial.user_attrs[keys.LATENCY_RUNTIME] == "eager"  # recorded with the value it timed
    setup = trial.user_attrs[keys.LATENCY_SETUP]  # and how: the search's command keeps memory; the spin count as this
    assert setup["memory_kept"] is True and setup["threads"] >= 1  # process had it (only our commands set it)
    assert setup["gomp_spincount"] == os.environ.get("GOMP_SPINCOUNT")


@pytest.mark.slow
def test_a_failure_that_recurs_stops_the_study_with_one_line(tmp_path, capsys):
    diverging = replace(STUDIES["tiny"].cpu_proxy, peak_lr=1e30, warmup=0, schedule="constant")
    name = variant_of_tiny("tiny-diverge-test", cpu_proxy=diverging, gpu_proxy=diverging)
    url = f"sqlite:///{tmp_path}/d.db"
    assert main(["--study", name, "--storage", url, "--n-trials", "6", "--artifacts", str(tmp_path / "a")]) == 2
    study = optuna.load_study(study_name=name, storage=storage_for(url))
    assert [t.state for t in study.trials if t.state.is_finished()] == [optuna.trial.TrialState.FAIL] * 3
    err = capsys.readouterr().err
    assert err.count("nas.search: error: ") == 1 and "Traceback" not in err
    assert "stopped: 3 trials in a row failed with: DivergenceError: training diverged" in err


@pytest.fixture(scope="module")
def one_trial(tmp_path_factory) -> tuple[str, str]:
    """What a one-training search of a fresh tiny study prints: (stdout, stderr)."""
    root = tmp_path_factory.mktemp("one")
    argv = ["--study", "tiny", "--storage", f"sqlite:///{root}/one.db", "--n-trials", "1", "--artifacts", str(root)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(argv) == 0
    return out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_queued_variants_left_waiting_are_announced(one_trial):
    assert "2 queued trials still WAITING (ms, ms3): run the same command to go on" in one_trial[0]


def test_a_study_with_older_spec_hashes_is_refused(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/old.db"
    study = optuna.create_study(
        study_name="tiny", storage=storage_for(url), directions=["maximize", "minimize", "minimize"]
    )
    study.set_metric_names(["psnr", "macs", "params"])
    study.set_user_attr(keys.DEFINITION, "tiny")
    spec = preset("ms3", "srresnet", 2, 1, 16)
    attrs = {keys.SPEC: spec.canonical_json, keys.SPEC_HASH: "0123456789abcdef"}
    study.add_trial(optuna.trial.create_trial(values=[30.0, 1.0, 1.0], user_attrs=attrs))
    assert main(["--study", "tiny", "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert f"was recorded with an older spec hash (trial 0: 0123456789abcdef, now {spec.spec_hash})" in err
    assert len(optuna.load_study(study_name="tiny", storage=storage_for(url)).trials) == 1  # nothing ran


@pytest.mark.parametrize(("rule", "said"), [(None, "an older rule"), ("per-conv", "the 'per-conv' rule")])
def test_a_study_trained_under_another_init_rule_is_refused(tmp_path, capsys, monkeypatch, rule, said):
    from nas.search import compatible

    monkeypatch.setattr(compatible, "WHOLE_WAIT_SECONDS", 0.3)  # no rule and no trial: waited for, briefly
    url = f"sqlite:///{tmp_path}/old.db"
    study = optuna.create_study(
        study_name="tiny", storage=storage_for(url), directions=["maximize", "minimize", "minimize"]
    )
    study.set_metric_names(["psnr", "macs", "params"])
    study.set_user_attr(keys.DEFINITION, "tiny")
    if rule is not None:
        study.set_user_attr(keys.INIT_RULE, rule)
    assert main(["--study", "tiny", "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert f"'tiny' was trained with {said} for initialising multi-scale units, this version uses 'unit-fan-in'" in err
    assert optuna.load_study(study_name="tiny", storage=storage_for(url)).trials == []  # nothing ran


def test_a_storage_password_is_never_printed(capsys):
    url = "postgresql+psycopg2://user:S3cretPW@127.0.0.1:9/msnas"  # port 9: nothing listens
    assert main(["--study", "tiny", "--n-trials", "1", "--storage", url]) == 2
    out, err = capsys.readouterr()
    assert "S3cretPW" not in out + err
    assert "--storage: cannot open postgresql+psycopg2://user:***@127.0.0.1:9/msnas" in err


def test_the_summary_hides_the_password(tmp_path):
    from nas.search.summary import summary

    study = optuna.create_study()
    text = summary(study, "postgresql://u:S3cretPW@db/x", tmp_path)
    assert "S3cretPW" not in text and "u:***@db" in text and "password in place of ***" in text


@pytest.mark.parametrize(
    ("directions", "names", "definition", "message"),
    [
        (["minimize"] * 3, None, None, "has directions ['minimize', 'minimize', 'minimize']"),
        (["maximize"], None, None, "has directions ['maximize']"),
        (["maximize", "minimize", "minimize"], None, None, "was not made by nas.search --study tiny"),
        (["maximize", "minimize", "minimize"], ["psnr", "macs", "params"], "ms3", "definition 'ms3'"),
    ],
)
def test_a_foreign_study_of_the_same_name_is_refused(
    tmp_path, capsys, monkeypatch, directions, names, definition, message
):
    from nas.search import compatible

    monkeypatch.setattr(compatible, "WHOLE_WAIT_SECONDS", 0.3)  # a study with no trace of its maker: waited for
    url = f"sqlite:///{tmp_path}/foreign.db"
    foreign = optuna.create_study(study_name="tiny", storage=storage_for(url), directions=directions)
    if names:
        foreign.set_metric_names(names)
    if definition:
        foreign.set_user_attr(keys.DEFINITION, definition)
    assert main(["--study", "tiny", "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert optuna.load_study(study_name="tiny", storage=storage_for(url)).trials == []  # nothing ran


@pytest.mark.parametrize("stored_on", ["study", "trials"])
def test_a_study_of_another_proxy_budget_is_refused(tmp_path, capsys, stored_on):
    """A study keeps one proxy budget (stored at creation; older studies: the one their trials recorded)."""
    from nas.search.runner import open_study

    url = f"sqlite:///{tmp_path}/budget.db"
    study, _ = open_study(STUDIES["tiny"], storage_for(url), seed=0)
    other = {**STUDIES["tiny"].cpu_proxy.as_dict(), "iterations": 24}
    if stored_on == "study":
        study.set_user_attr(keys.STUDY_PROXY, other)
    else:
        study.add_trial(optuna.trial.create_trial(values=[30.0, 1.0, 1.0], user_attrs={keys.PROXY: other}))
    before = len(study.trials)
    assert main(["--study", "tiny", "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "was trained with another proxy budget (iterations 24 here 12)" in err
    assert len(optuna.load_study(study_name="tiny", storage=storage_for(url)).trials) == before  # nothing ran


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # ask/tell on a heartbeat storage, once
def test_a_named_variant_whose_trial_failed_is_queued_again(tmp_path, capsys):
    from nas.search.runner import open_study

    url = f"sqlite:///{tmp_path}/requeue.db"
    study, _ = open_study(STUDIES["tiny"], storage_for(url), seed=0)
    first = study.ask()  # the queued standard conv, as a worker would take it, killed before it finished
    assert first.user_attrs[keys.PRESET] == "standard"
    study.tell(first, state=optuna.trial.TrialState.FAIL)
    assert main(["--study", "tiny", "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "a")]) == 0
    assert "queued again (their trials failed): standard" in capsys.readouterr().err
    trials = optuna.load_study(study_name="tiny", storage=storage_for(url)).trials
    waiting = [t.user_attrs[keys.PRESET] for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert waiting == ["ms3", "standard"]  # ms ran; standard waits again behind ms3


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_named_variant_is_queued_again_at_most_three_times(tmp_path, capsys):
    from nas.search.named import MAX_REQUEUES, requeue_failed_named
    from nas.search.runner import open_study

    study, _ = open_study(STUDIES["tiny"], storage_for(f"sqlite:///{tmp_path}/cap.db"), seed=0)
    for attempt in range(1, MAX_REQUEUES + 1):
        trial = next(t for t in iter(study.ask, None) if t.user_attrs.get(keys.PRESET) == "standard")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        again, given_up = requeue_failed_named(study, STUDIES["tiny"])
        assert (again, given_up) == ((["standard"], []) if attempt < MAX_REQUEUES else ([], ["standard"]))


@pytest.mark.parametrize("kind", ["tiny", "16-bit"])
def test_unusable_training_images_fail_before_the_study_is_made(tmp_path, capsys, kind):
    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    if kind == "tiny":
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(data / "a.png")
    else:
        Image.fromarray(np.zeros((64, 64), dtype=np.uint16)).save(data / "a.png")
    url = f"sqlite:///{tmp_path}/data.db"
    assert main(["--study", "tiny", "--storage", url, "--data", str(data), "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert (
        "data/a.png: 8x8 is smaller than the 24x24 HR patch" if kind == "tiny" else "a.png: unsupported image mode"
    ) in err
    assert not (tmp_path / "data.db").exists() and not (tmp_path / "a").exists()  # no study, no artifact folder


@pytest.mark.slow
def test_a_killed_workers_trial_is_failed_at_once_and_its_variant_queued_again(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    import warnings

    root = Path(__file__).resolve().parents[2]
    url = f"sqlite:///{tmp_path}/killed.db"
    common = ["--study", "tiny", "--storage", url, "--artifacts", str(tmp_path / "a")]
    worker = warm.popen(
        [sys.executable, "-m", "nas.search", *common, "--n-trials", "4"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    running: list[optuna.trial.FrozenTrial] = []
    while not running and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        if (tmp_path / "killed.db").exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeats are experimental
                try:
                    trials = optuna.load_study(study_name="tiny", storage=url).get_trials()
                except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # the worker is still creating the study
                    continue
            running = [
                t for t in trials if t.state == optuna.trial.TrialState.RUNNING and keys.WORKER_PID in t.user_attrs
            ]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert running, "no trial was caught running; the worker finished too early"
    victim = running[0]
    assert main([*common, "--n-trials", "1"]) == 0  # right after the kill: no heartbeat grace period to wait for
    trials = optuna.load_study(study_name="tiny", storage=storage_for(url)).trials
    dead = trials[victim.number]
    assert dead.state == optuna.trial.TrialState.FAIL
    assert "ended while the trial was running" in dead.user_attrs[keys.FAIL_REASON]
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    name = victim.user_attrs[keys.PRESET]  # the first trials are the queued named variants
    assert any(t.user_attrs.get(keys.PRESET) == name and t.number > victim.number for t in trials)


@pytest.mark.slow
def test_each_training_says_when_it_starts_and_what_it_trains(one_trial):
    err = one_trial[1]
    proxy = STUDIES["tiny"].cpu_proxy
    start = (f"trial 0 standard starts: 0.49 G MACs; proxy {proxy.iterations} iterations at its own width, all its"
             f" blocks, {proxy.patch}x{proxy.patch} LR patches, batch {proxy.batch}, on cpu")  # fmt: skip
    assert start in err and err.index(start) < err.index("[1/1] trial 0 standard: PSNR")


@pytest.mark.slow
def test_data_workers_train_the_same_proxy(tmp_path, monkeypatch):
    """--data-workers cuts the crops in other processes: the same batches, so the same trained result."""
    results, asked = [], []
    real_batches = loop.batches

    def batches(*args, **kwargs):
        asked.append(args[-1])  # workers, as the training loop passes it
        return real_batches(*args, **kwargs)

    monkeypatch.setattr(loop, "batches", batches)
    for workers in ("0", "2"):
        url = f"sqlite:///{tmp_path}/w{workers}.db"
        argv = ["--study", "tiny", "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / workers)]
        assert main([*argv, "--data-workers", workers]) == 0
        (trial,) = [t for t in optuna.load_study(study_name="tiny", storage=storage_for(url)).trials if t.values]
        results.append((trial.params, trial.user_attrs[keys.PSNR_KEY], trial.user_attrs[keys.LOSS_CURVE]))
    assert results[0] == results[1]
    assert set(asked) == {0, 2}


def test_a_study_that_cannot_become_ours_is_not_waited_for(tmp_path):
    """What a creator writes first (directions, its definition's name) or a finished trial (its creator was done)
    decides at once: only a study that may still be on its way to being ours is waited for."""
    import time
    from typing import Literal

    from nas.errors import InputError
    from nas.search import compatible

    storage = storage_for(f"sqlite:///{tmp_path}/w.db")
    directions: list[Literal["minimize", "maximize"]] = ["maximize", "minimize", "minimize"]
    began = time.monotonic()
    other = optuna.create_study(study_name="other", storage=storage, directions=directions)
    other.set_user_attr(keys.DEFINITION, "ms3")
    with pytest.raises(InputError, match="definition 'ms3'"):
        compatible.refuse_made_elsewhere(other, STUDIES["tiny"])
    flipped = optuna.create_study(study_name="flipped", storage=storage, directions=["minimize"] * 3)
    with pytest.raises(InputError, match="has directions"):
        compatible.refuse_made_elsewhere(flipped, STUDIES["tiny"])
    old = optuna.create_study(study_name="old", storage=storage, directions=directions)
    old.add_trial(optuna.trial.create_trial(values=[30.0, 1.0, 1.0]))
    compatible.wait_until_whole(old)
    assert time.monotonic() - began < compatible.WHOLE_WAIT_SECONDS / 3
    young = optuna.create_study(study_name="young", storage=storage, directions=directions)
    young.set_user_attr(keys.DEFINITION, "tiny")
    compatible.refuse_made_elsewhere(young, STUDIES["tiny"])  # may still become ours: no refusal yet
    assert not compatible.is_whole(young)


def test_a_worker_waits_for_a_study_another_worker_is_still_creating(tmp_path, monkeypatch):
    """Two workers start at once: the one that loads the study reads its checks only once the creator has
    written the initialisation rule (last); a study that never gets it (made by an older version) is refused."""
    import threading

    from nas.errors import InputError
    from nas.search import compatible, runner

    storage = storage_for(f"sqlite:///{tmp_path}/w.db")
    study = optuna.create_study(study_name="tiny", storage=storage, directions=["maximize", "minimize", "minimize"])
    threading.Timer(0.5, lambda: study.set_user_attr(keys.INIT_RULE, runner.INIT_RULE)).start()
    loaded, created = runner.open_study(STUDIES["tiny"], storage, seed=0)
    assert not created and keys.INIT_RULE not in loaded.user_attrs  # the creator has not finished yet
    compatible.wait_until_whole(loaded)
    compatible.check_init_rule(loaded)  # whole now: accepted

    old = optuna.create_study(study_name="old", storage=storage, directions=["maximize"])
    monkeypatch.setattr(compatible, "WHOLE_WAIT_SECONDS", 0.3)
    compatible.wait_until_whole(old)
    with pytest.raises(InputError, match="an older rule for initialising"):
        compatible.check_init_rule(old)


# ---- the data: several folders, benchmarks kept out, one data identity per study ----


def write_images(folder: Path, *names: str, value: int | None = None) -> Path:
    """48x48 PNGs (random, or all ``value``): large enough for the tiny study's patches and its x2 validation."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(list(folder.iterdir())) + 17 * len(folder.name))
    for name in names:
        img = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) if value is None else np.full((48, 48, 3), value)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{name}.png")
    return folder


@pytest.mark.slow
def test_trials_and_the_study_record_their_data(tiny_study):
    _, study, _ = tiny_study
    recorded = study.user_attrs[keys.STUDY_DATA]
    assert recorded["bundled"] and recorded["train"]["folders"] == ["bundled"]
    assert all(t.user_attrs[keys.DATA] == recorded for t in study.trials)  # repeats copy it


def test_repeated_data_flags_give_the_search_the_union_of_the_folders(tmp_path):
    from nas.search.__main__ import config_of, parse_args
    from nas.search.runner import searcher_for

    a = write_images(tmp_path / "a", "x", value=0)
    b = write_images(tmp_path / "b", "x", "y", value=255)
    val = write_images(tmp_path / "val", "v")
    argv = ["--study", "tiny", "--data", str(a), "--data", str(b), "--val-data", str(val)]
    config = config_of(parse_args(argv))
    assert config.data == (str(a), str(b)) and config.val_data == (str(val),)
    searcher = searcher_for(config, STUDIES["tiny"], tmp_path / "art")
    assert [p.name for p in searcher.train] == ["a/x", "b/x", "b/y"]
    assert searcher.data is not None and searcher.data["train"]["folders"] == ["a", "b"]
    assert searcher.data["train"]["images"] == 3 and searcher.data["val"]["folders"] == ["val"]


def test_a_training_image_equal_to_a_validation_image_fails_before_the_study_is_made(tmp_path, capsys):
    import shutil

    val = write_images(tmp_path / "val", "bird", "head")
    train = write_images(tmp_path / "train", "t1", "t2")
    shutil.copyfile(val / "head.png", train / "t3.png")
    url = f"sqlite:///{tmp_path}/leak.db"
    argv = ["--study", "tiny", "--storage", url, "--data", str(train), "--val-data", str(val)]
    assert main([*argv, "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{train / 't3.png'} has the same pixels as" in err and str(val / "head.png") in err
    assert not (tmp_path / "leak.db").exists()


def test_validation_images_of_one_name_in_two_folders_fail_before_the_study_is_made(tmp_path, capsys):
    first, second = write_images(tmp_path / "one", "bird"), write_images(tmp_path / "two", "bird")
    url = f"sqlite:///{tmp_path}/names.db"
    argv = ["--study", "tiny", "--storage", url, "--val-data", str(first), "--val-data", str(second)]
    assert main([*argv, "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{first / 'bird.png'} and {second / 'bird.png'} share the name 'bird'" in err


@pytest.mark.parametrize("made_with", ["folders", "nothing recorded"])
def test_a_study_resumed_with_other_data_is_refused(tmp_path, capsys, made_with):
    """A study keeps the data it was made with (recorded at creation; older studies: the bundled photos)."""
    from nas.search.runner import open_study
    from nas.sr.data_identity import data_identity

    folder = write_images(tmp_path / "T91", "t1", "t2")
    url = f"sqlite:///{tmp_path}/data.db"
    recorded = data_identity([folder], []) if made_with == "folders" else None
    study, _ = open_study(STUDIES["tiny"], storage_for(url), seed=0, data=recorded)
    argv = ["--study", "tiny", "--storage", url, "--n-trials", "1", "--artifacts", str(tmp_path / "a")]
    if made_with == "nothing recorded":
        argv += ["--data", str(folder)]  # the bundled photos trained it; not this folder
    assert main(argv) == 2
    err = capsys.readouterr().err
    made = "train T91 (2 images" if made_with == "folders" else "the bundled photos: it was made before"
    assert err.count("\n") == 1 and "was made with other data" in err and made in err
    assert optuna.load_study(study_name="tiny", storage=storage_for(url)).trials == study.trials  # nothing ran
