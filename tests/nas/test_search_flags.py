"""``nas.search --proxy FIELD=VALUE``, ``--study-name``, ``--no-named`` and ``--named-only``: a small run with a cut
budget reaches sampled architectures, the study records the budget it was made with, and another budget is
refused with the way to name a new study."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import optuna
import pytest

from nas.errors import InputError
from nas.search.__main__ import main as search_main
from nas.search.__main__ import worker_argvs
from nas.search.named import chosen_named, queue_on_resume
from nas.search.runner import open_study
from nas.study import keys
from nas.study.naming import definition_of
from nas.study.storage import storage_for
from studies import STUDIES
from studies.files import loads

WAITING = optuna.trial.TrialState.WAITING


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = search_main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_a_cut_budget_without_named_variants_trains_a_sampled_architecture_and_is_recorded(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/s.db"
    cut = ["--proxy", "iterations=2", "--proxy", "batch=2"]
    argv = ["--study", "tiny", "--storage", url, "--artifacts", str(tmp_path / "a"), "--n-trials", "1"]
    code, _, err = run([*argv, *cut, "--no-named"])
    assert code == 0, err
    study = optuna.load_study(study_name="tiny", storage=storage_for(url))
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and not trial.user_attrs.get(keys.QUEUED)  # sampled
    assert trial.user_attrs[keys.PROXY]["iterations"] == 2 and trial.user_attrs[keys.PROXY]["batch"] == 2
    assert study.user_attrs[keys.STUDY_PROXY]["iterations"] == 2  # the study records the budget it was made with
    definition = definition_of(study)
    assert definition is not None and definition.cpu_proxy.iterations == definition.gpu_proxy.iterations == 2
    assert definition.cpu_proxy.warmup == 0  # 2 of 12 iterations warm up in the study: none of 2

    for other, diff in ((["--proxy", "iterations=3", "--proxy", "batch=2"], "iterations stored 2, here 3"),
                        ([], "batch stored 2, here 4")):  # fmt: skip  # another budget, or the study's own
        code, out, err = run([*argv, *other])
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert f"made from another definition of 'tiny' (cpu_proxy.{diff})" in err
        assert "--study-name NEW to search this definition as a new study" in err
    assert len(optuna.load_study(study_name="tiny", storage=storage_for(url)).trials) == 1  # nothing ran

    # a later run without --no-named queues the named variants that have no trial yet
    said = queue_on_resume(study, definition)
    named = [n for n in ("standard", "ms", "ms3") if n != trial.user_attrs.get(keys.PRESET)]
    assert said == [f"queued (no trial of them yet): {', '.join(named)}"]
    assert [t.user_attrs[keys.PRESET] for t in study.get_trials(states=(WAITING,))] == named


def test_only_the_named_variants_asked_for_are_queued(tmp_path: Path):
    tiny = STUDIES["tiny"]
    study, created = open_study(
        tiny, storage_for(f"sqlite:///{tmp_path}/s.db"), 0, queue=chosen_named(tiny, only="ms3, standard")
    )
    assert created and [t.user_attrs[keys.PRESET] for t in study.trials] == ["standard", "ms3"]
    assert queue_on_resume(study, tiny, ("ms3", "standard")) == []  # the run's choice holds on resume
    assert chosen_named(tiny, no_named=True) == () and chosen_named(tiny) is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--named-only", "ms9"],
            "--named-only: 'ms9' is no named variant of study 'tiny' (allowed: standard, ms, ms3)",
        ),
        (["--named-only", ","], "--named-only: ',' is no named variant of study 'tiny'"),
        (["--no-named", "--named-only", "ms"], "--no-named and --named-only: choose one"),
        (["--study-name", "ms3"], "--study-name: 'ms3' is a built-in study's name; give yours another"),
        (["--study-name", "a b"], "--study-name: name: 'a b' must be letters, digits"),
    ],
)
def test_bad_queue_and_name_flags_are_one_line_and_make_nothing(tmp_path: Path, flags: list[str], message: str):
    code, out, err = run(["--study", "tiny", "--storage", f"sqlite:///{tmp_path}/s.db", *flags])
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "s.db").exists()


def test_a_changed_budget_under_a_new_name_is_a_study_of_its_own():
    code, text, err = run(["--study", "tiny", "--proxy", "iterations=24", "--study-name", "tiny-24", "--dump-study"])
    assert code == 0, err
    changed = loads(text)
    assert changed.name == "tiny-24" and changed.cpu_proxy.iterations == 24 and changed.cpu_proxy.warmup == 4
    assert changed.space == STUDIES["tiny"].space


def test_devices_workers_get_the_same_changes():
    argv = ["--study", "tiny", "--proxy", "iterations=2", "--no-named", "--devices", "cpu,cpu"]
    for worker in worker_argvs(argv, [1, 1], 0):
        assert worker[:5] == ["--study", "tiny", "--proxy", "iterations=2", "--no-named"]


def test_the_queue_choice_needs_a_study():
    with pytest.raises(InputError, match="--named-only: 'x' is no named variant"):
        chosen_named(STUDIES["layerwise"], only="x")
