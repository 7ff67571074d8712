"""nas.fidelity on a real random study of the tiny space: reuse, resumption, shards, the companion study, select()."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas.analysis.fidelity import select
from nas.fidelity import main
from nas.search.retrain import RetrainConfig, plan, run_work, store
from nas.sr.held_out import validation_images
from nas.sr.pictures import training_pictures
from nas.study import keys
from nas.study.companion import open_companion
from nas.study.naming import stored_name
from nas.study.records import ArchRecord, arch_records
from nas.study.storage import storage_for
from nas.training.proxy import ValidationSet
from studies import BASE_OBJECTIVES, STUDIES

NAME = stored_name(STUDIES["tiny"], "random")
COMPANION = NAME + ".fidelity"
RUN = ["--k", "3", "--budget-x", "1", "--seeds", "2", "--device", "cpu"]


def fidelity(url: str, *extra: str) -> tuple[str, str]:
    """Run ``nas.fidelity`` on the study; (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["--study", NAME, "--storage", url, *extra]) == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def load(url: str, name: str = NAME) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage_for(url))


def records_of(url: str, budget_x: float) -> list[optuna.trial.FrozenTrial]:
    return [t for t in load(url, COMPANION).trials if t.user_attrs[keys.BUDGET_X] == budget_x]


@dataclass(frozen=True)
class Runs:
    """The same command twice on one copy of the study."""

    url: str
    first: str  # stdout
    first_err: str
    second: str
    recorded: int  # companion trials after both


@pytest.fixture(scope="module")
def runs(tiny_random_url: str) -> Runs:
    first, first_err = fidelity(tiny_random_url, *RUN)
    second, _ = fidelity(tiny_random_url, *RUN)
    return Runs(tiny_random_url, first, first_err, second, len(load(tiny_random_url, COMPANION).trials))


def test_first_run_trains_only_the_second_seed(runs: Runs):
    assert runs.first.splitlines()[0] == (
        "6 runs planned (3 architectures x 2 seeds), 0 recorded or another shard's; this worker trains 3"
    )
    progress = [line for line in runs.first_err.splitlines() if line.startswith("[")]
    assert len(progress) == 6
    assert sum("(the proxy run itself)" in line for line in progress) == 3
    assert all("seed 0" in line for line in progress if "(the proxy run itself)" in line)


def test_seed_zero_at_the_proxy_budget_is_the_proxy_run(runs: Runs):
    url = runs.url
    trials = {t.number: t for t in load(url).trials}
    seed0 = [t for t in records_of(url, 1) if t.user_attrs[keys.SEED] == 0]
    assert len(seed0) == 3
    for t in seed0:
        source = trials[t.user_attrs[keys.SOURCE_TRIAL]]
        assert t.user_attrs[keys.REUSED_TRIAL] == source.number
        assert source.values is not None and t.user_attrs[keys.PSNR_KEY] == source.values[0]  # exactly: not retrained
        assert keys.TRAIN_SECONDS not in t.user_attrs


def test_seed_one_is_trained(runs: Runs):
    url = runs.url
    seed1 = [t for t in records_of(url, 1) if t.user_attrs[keys.SEED] == 1]
    assert len(seed1) == 3
    assert all(keys.REUSED_TRIAL not in t.user_attrs and t.user_attrs[keys.DEVICE] == "cpu" for t in seed1)
    assert all(t.user_attrs[keys.TRAIN_SECONDS] > 0 for t in seed1)


def test_companion_study_holds_complete_trials(runs: Runs):
    url = runs.url
    companion = load(url, COMPANION)
    assert companion.user_attrs[keys.SOURCE_STUDY] == NAME
    assert companion.metric_names == ["psnr", "macs", "params"]
    source = {t.number: t for t in load(url).trials}
    for t in companion.trials:
        assert t.state == TrialState.COMPLETE
        a = t.user_attrs
        assert {"source_trial", "seed", "budget_x", "psnr", "key", "proxy", "reason"} <= set(a)
        assert t.values == [a["psnr"], a["macs"], a["params"]]
        assert a["spec_hash"] == source[a["source_trial"]].user_attrs[keys.SPEC_HASH]
        assert a["proxy"] == source[a["source_trial"]].user_attrs[keys.PROXY]  # 1x: the very budget of the search
        if "reused_trial" not in a:  # a re-training keeps its learning curve, ending at its PSNR
            assert a["val_curve"][-1] == [a["proxy"]["iterations"], pytest.approx(a["psnr"])]
    assert len({t.user_attrs[keys.WORK_KEY] for t in companion.trials}) == len(companion.trials)


def test_the_same_command_again_trains_nothing_and_reports_the_same(runs: Runs):
    assert runs.second.splitlines()[0].endswith("6 recorded or another shard's; this worker trains 0")
    assert runs.second.splitlines()[1:] == runs.first.splitlines()[1:]
    assert runs.recorded == 6


def test_the_report_names_the_picks_and_is_stored_on_the_study(runs: Runs):
    assert f"{NAME}: proxy fidelity at 1x the proxy budget, 3 architectures" in runs.first
    assert "rank agreement of each predictor with the long-budget PSNR" in runs.first
    stored: dict[str, Any] = load(runs.url).user_attrs[keys.fidelity_summary_key(1)]
    # every predictor the trials record: the search's zero-cost scores and learning curves, the seed mean
    assert {"proxy", "proxy_2seed", "lc", "zc_jacob_cov", "zc_synflow", "params", "macs"} <= set(stored["predictors"])
    assert stored["predictors"]["proxy_2seed"]["n"] == 3
    # the standing of each at the long budget, with seed noise and paired per-image differences
    assert "at 1x the proxy budget, on MACs and params (noise-aware front):" in runs.first
    assert set(stored["front"]) == {"ms", "ms3", "standard"} and "front" in stored["front"].values()
    assert set(stored["front"].values()) <= {"front", "tied", "dominated"}
    assert stored["n"] == 3 and stored["pairs"] == 3 and stored["budget_x"] == 1
    assert sorted(a["name"] for a in stored["archs"]) == ["ms", "ms3", "standard"]
    assert all(a["reason"] == "named" and set(a["long"]) == {"0", "1"} for a in stored["archs"])


def test_shards_split_the_work_disjointly(runs: Runs):
    url = runs.url
    third = ["--k", "3", "--budget-x", "1", "--seeds", "3", "--device", "cpu"]  # adds seed 2: 3 runs to share
    out0, _ = fidelity(url, *third, "--shard", "0/2")
    assert out0.splitlines()[0].endswith("7 recorded or another shard's; this worker trains 2")
    out1, _ = fidelity(url, *third, "--shard", "1/2")
    assert out1.splitlines()[0].endswith("8 recorded or another shard's; this worker trains 1")
    seed2 = [t for t in records_of(url, 1) if t.user_attrs[keys.SEED] == 2]
    assert len(seed2) == 3 and len({t.user_attrs[keys.SPEC_HASH] for t in seed2}) == 3  # each once, none twice
    assert all(keys.REUSED_TRIAL not in t.user_attrs for t in seed2)
    rows = out1.splitlines()[3:6]  # the last shard to finish reports every architecture with its 3 seeds
    assert len(rows) == 3 and all(row.endswith("  3") for row in rows)


def test_seed_start_trains_only_the_later_seed_and_reports_every_recorded_seed(runs: Runs):
    out, _ = fidelity(runs.url, "--k", "3", "--budget-x", "1", "--seeds", "1", "--seed-start", "5", "--device", "cpu")
    assert out.splitlines()[0] == (
        "3 runs planned (3 architectures x 1 seeds), 0 recorded or another shard's; this worker trains 3"
    )
    seed5 = [t for t in records_of(runs.url, 1) if t.user_attrs[keys.SEED] == 5]
    assert len(seed5) == 3 and all(keys.REUSED_TRIAL not in t.user_attrs for t in seed5)
    stored: dict[str, Any] = load(runs.url).user_attrs[keys.fidelity_summary_key(1)]
    assert all("5" in a["long"] and "0" in a["long"] for a in stored["archs"])  # the earlier seeds still count


def test_seed_start_is_checked(capsys: pytest.CaptureFixture[str]):
    assert main(["--study", NAME, "--storage", "sqlite:///unused.db", "--seed-start", "-1"]) == 2
    assert "--seed-start: -1 is not in 0..10000" in capsys.readouterr().err


def test_work_another_worker_recorded_meanwhile_is_not_trained_again(runs: Runs, capsys: pytest.CaptureFixture[str]):
    study = load(runs.url)
    picks = select(arch_records(study), 3)
    todo = plan(picks, 1, 1, seed_start=7)
    fidelity = open_companion(study)
    store(fidelity, todo[1], None)  # another worker finished the second run after this one had planned
    upscale = picks[0].record.spec.upscale
    data = training_pictures((), None, None, upscale)[0], ValidationSet.of(validation_images(()), upscale)
    config = RetrainConfig(study=NAME, storage=runs.url, device="cpu")
    assert run_work(fidelity, todo, config, data) == 2
    assert f"{picks[1].record.name} seed 7 x1: recorded by another worker" in capsys.readouterr().err
    assert sum(t.user_attrs[keys.SEED] == 7 for t in records_of(runs.url, 1)) == 3  # no run recorded twice


def test_plan_is_seed_major_and_sharding_is_by_index(tiny_random_db: Path):
    picks = select(arch_records(load(f"sqlite:///{tiny_random_db}")), 3)
    work = plan(picks, 2, 2)
    assert [(w.pick.record.number, w.seed) for w in work] == [(p.record.number, s) for s in (0, 1) for p in picks]
    assert [w.seed for w in plan(picks, 2, 2, seed_start=3)] == [3, 3, 3, 4, 4, 4]
    assert all(w.budget.iterations == 2 * STUDIES["tiny"].cpu_proxy.iterations for w in work)
    assert len({w.key for w in work}) == 6


# ---- select: named, then the front, then a seeded random sample ----


def record(psnr: float, macs: float, params: float, preset: str | None = None) -> ArchRecord:
    attrs: dict[str, Any] = {keys.SPEC_HASH: f"{psnr}-{macs}-{params}", keys.MACS_KEY: macs, keys.PARAMS_KEY: params}
    if preset:
        attrs[keys.PRESET] = preset
    return ArchRecord(optuna.trial.create_trial(values=[psnr, macs, params], user_attrs=attrs), BASE_OBJECTIVES)


def test_select_order_on_hand_made_records():
    records = [
        record(30.0, 3, 3),  # dominated by the next
        record(31.0, 2, 2),  # front
        record(29.0, 1, 1, "ms"),  # named (and on the front)
        record(28.0, 4, 4),  # dominated
        record(32.0, 5, 5),  # front
        record(27.0, 5, 5, "standard"),  # named (and dominated)
    ]
    picks = select(records, 6)
    assert [p.reason for p in picks] == ["named", "named", "front", "front", "random", "random"]
    assert [p.record for p in picks[:4]] == [records[2], records[5], records[1], records[4]]
    assert {p.record.spec_hash for p in picks[4:]} == {records[0].spec_hash, records[3].spec_hash}
    assert [p.record for p in select(records, 3)] == [records[2], records[5], records[1]]
    assert [p.record for p in select(records, 6, 7)] == [p.record for p in select(records, 6, 7)]
    orders = {tuple(p.record.spec_hash for p in select(records, 6, seed)[4:]) for seed in range(8)}
    assert len(orders) == 2  # the random tail depends on the seed


def test_select_on_the_real_study(tiny_random_db: Path):
    records = arch_records(load(f"sqlite:///{tiny_random_db}"))
    picks = select(records, 5)
    assert [p.reason for p in picks[:3]] == ["named"] * 3
    assert {p.record.preset for p in picks[:3]} == {"standard", "ms", "ms3"}
    assert {p.reason for p in picks[3:]} <= {"front", "random"}
    assert len({p.record.spec_hash for p in picks}) == 5


# ---- errors ----


def test_usage_errors(runs: Runs, capsys: pytest.CaptureFixture[str]):
    url = runs.url
    cases = {
        "--k: at least 3": ["--study", NAME, "--storage", url, "--k", "2"],
        "is a fidelity record": ["--study", COMPANION, "--storage", url],
        "--shard": ["--study", NAME, "--storage", url, "--shard", "2/2"],
        "--budget-x": ["--study", NAME, "--storage", url, "--budget-x", "0"],
    }
    for message, argv in cases.items():
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("nas.fidelity: error: ") and err.count("\n") == 1 and message in err, err


def test_a_shard_with_too_few_architectures_says_so_and_succeeds(runs: Runs):
    out, _ = fidelity(runs.url, "--k", "3", "--budget-x", "2", "--seeds", "1", "--device", "cpu", "--shard", "0/3")
    assert "this worker trains 1" in out.splitlines()[0]
    assert out.splitlines()[-1] == "1 architectures recorded so far: run --report-only when every shard is done"


@pytest.mark.parametrize(
    ("deltas", "message"),
    [("0.1,x", "is not a comma-separated list of numbers"), ("0.1,-0.2", "differences must be positive")],
)
def test_bad_deltas_are_usage_errors(deltas: str, message: str, capsys: pytest.CaptureFixture[str]):
    assert main(["--study", NAME, "--storage", "sqlite:///nowhere.db", "--deltas", deltas]) == 2
    assert message in capsys.readouterr().err


def test_seed_counts_are_given_for_the_chosen_deltas(runs: Runs):
    out, _ = fidelity(runs.url, *RUN, "--report-only", "--deltas", "0.05,0.5")
    resolve = [line for line in out.splitlines() if line.startswith("  to resolve")]
    assert [line.split()[2] for line in resolve] == ["0.05", "0.5"]


def test_one_seed_says_the_seed_noise_is_not_measured(runs: Runs, tmp_path: Path):
    one_seed = ["--k", "3", "--budget-x", "2", "--seeds", "1", "--device", "cpu"]
    out, _ = fidelity(runs.url, *one_seed, "--out", str(tmp_path))
    assert "seed noise: not measured (one seed per architecture; --seeds 2 or more measures it)" in out.splitlines()
    assert not any(line.startswith("  to resolve") for line in out.splitlines())
    recorded = json.loads((tmp_path / "fidelity.json").read_text())  # strict JSON: no NaN
    assert recorded["seed_sd"] is None and recorded["paired_sd"] is None


# ---- the data a re-training ran on ----


def test_records_say_which_data_they_ran_on(runs: Runs):
    made = [t for t in records_of(runs.url, 1) if t.user_attrs[keys.SEED] in (0, 1)]  # by the command (RUN)
    assert len(made) == 6 and all(t.user_attrs[keys.DATA]["bundled"] for t in made)


def test_work_keys_differ_by_data_and_are_unchanged_for_the_bundled_photos(tiny_random_db: Path, tmp_path: Path):
    import numpy as np
    from PIL import Image

    from nas.fidelity import config_of, parse_args
    from nas.search.retrain import reusable
    from nas.sr.data_identity import data_identity
    from nas.study.companion import work_key

    folder = tmp_path / "T91"
    folder.mkdir()
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(folder / "a.png")
    config = config_of(parse_args(["--study", NAME, "--data", str(folder), "--data", str(tmp_path), "--val-data", "v"]))
    assert config.data == (str(folder), str(tmp_path)) and config.val_data == ("v",)
    budget = STUDIES["tiny"].cpu_proxy
    before = work_key("abc", budget, 0)  # the key of records made before data were recorded
    first = data_identity([folder], [])
    Image.fromarray(np.ones((24, 24, 3), np.uint8)).save(folder / "a.png")
    second = data_identity([folder], [])
    assert work_key("abc", budget, 0, data_identity([], [])) == before
    assert len({before, work_key("abc", budget, 0, first), work_key("abc", budget, 0, second)}) == 3
    picks = select(arch_records(load(f"sqlite:///{tiny_random_db}")), 3)
    assert all(reusable(w) for w in plan(picks, 1, 1))  # the proxy runs themselves, on the bundled photos
    assert not any(reusable(w) for w in plan(picks, 1, 1, data=first))  # not on other data
