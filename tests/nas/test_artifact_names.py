"""A repeat copies its original's artifacts under names read from the storage, which whoever writes the database
chooses: a planted name with a path component is refused, the repeat FAILs with that reason, and nothing is
written outside the repeat's temporary folder."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import optuna
import pytest
import torch
from optuna.artifacts import ArtifactMeta, FileSystemArtifactStore
from optuna.trial import TrialState

from nas.search.halving import ask_candidates
from nas.search.objective import Searcher
from nas.search.runner import TRIAL_ERRORS
from nas.study import keys
from nas.study.optuna_adapter import asked_trial_id, storage_of
from space import analytic_cost
from studies import STUDIES

DEFINITION = STUDIES["tiny"]
SPEC = next(spec for _, spec in DEFINITION.space.uniform_points())
# {root}: the test's folder, so an absolute name points somewhere the test can see
BAD_FILENAMES = ["{root}/abs/escape.pth", "../escape.pth", "../../escape.pth", "sub/escape.pth", "a\\escape.pth",
                 "escape\0.pth", ".", "..", ""]  # fmt: skip
BAD_IDS = ["../escape", "sub/escape", "{root}/abs/escape"]


@pytest.fixture
def study(tmp_path: Path) -> optuna.Study:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    return optuna.create_study(storage=storage, directions=[o.direction for o in DEFINITION.objectives])


@pytest.fixture
def store(tmp_path: Path) -> FileSystemArtifactStore:
    (tmp_path / "artifacts").mkdir()
    return FileSystemArtifactStore(str(tmp_path / "artifacts"))


@pytest.fixture(autouse=True)
def temporary_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repeat's temporary folder under the test's folder, so that an escape from it can be seen."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path / "tmp"


def plant(study: optuna.Study, store: FileSystemArtifactStore, tmp_path: Path, **record: str) -> None:
    """A COMPLETE result of SPEC with one real artifact, whose record in the storage is then rewritten with
    ``record`` (the artifact meta's fields) the way Optuna stores it: JSON in a system attribute of the trial."""
    trial = study.ask()
    trial.set_user_attr(keys.SPEC, SPEC.canonical_json)
    trial.set_user_attr(keys.SPEC_HASH, SPEC.spec_hash)
    source = tmp_path / "upload" / "spec.json"
    source.parent.mkdir()
    source.write_text(SPEC.to_json())
    real = optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(source), study_or_trial=trial)
    key, stored = next((k, v) for k, v in study.trials[trial.number].system_attrs.items() if real in k)
    meta = dataclasses.replace(ArtifactMeta(**json.loads(stored)), **record)
    storage_of(study).set_trial_system_attr(asked_trial_id(trial), key, json.dumps(dataclasses.asdict(meta)))
    cost = analytic_cost(SPEC)
    study.tell(trial, [30.0, cost.macs, cost.params])


def searcher(store: FileSystemArtifactStore) -> Searcher:
    """A worker that never trains here: a repeat needs neither data nor a device."""
    return Searcher(DEFINITION, (), None, torch.device("cpu"), 0, store, {})  # type: ignore[arg-type]


def repeat(study: optuna.Study, store: FileSystemArtifactStore) -> optuna.trial.FrozenTrial:
    """Run one trial of SPEC the way nas.search does (a failing trial is recorded, the study goes on)."""
    study.enqueue_trial({}, user_attrs={keys.EXTRA_SPEC: SPEC.canonical_json})
    study.optimize(searcher(store).objective, n_trials=1, catch=TRIAL_ERRORS)
    return study.trials[-1]


def everything(root: Path) -> list[str]:
    """Every path under ``root`` but the database (its journal comes and goes)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.startswith("study.db"))


def assert_refused(trial: optuna.trial.FrozenTrial, what: str) -> None:
    reason = trial.user_attrs[keys.FAIL_REASON]
    assert trial.state == TrialState.FAIL and keys.DUPLICATE_OF in trial.user_attrs
    assert reason.startswith(f"UnsafeName: trial 0's {what} ") and "is not a plain file name: refused" in reason
    assert "\n" not in reason


@pytest.mark.parametrize("name", BAD_FILENAMES, ids=repr)
def test_a_planted_file_name_fails_the_repeat_and_writes_nothing_outside(study, store, tmp_path, name):
    (tmp_path / "abs").mkdir()  # where an absolute name points: there to be written into
    plant(study, store, tmp_path, filename=name.format(root=tmp_path))
    before = everything(tmp_path)
    trial = repeat(study, store)
    assert_refused(trial, "artifact file name")
    assert everything(tmp_path) == before
    assert optuna.artifacts.get_all_artifact_meta(trial, storage=storage_of(study)) == []


@pytest.mark.parametrize("artifact_id", BAD_IDS)
def test_a_planted_artifact_id_fails_the_repeat(study, store, tmp_path, artifact_id):
    (tmp_path / "abs").mkdir()
    (tmp_path / "abs" / "escape").write_text("a file outside the artifact folder")
    plant(study, store, tmp_path, artifact_id=artifact_id.format(root=tmp_path))
    before = everything(tmp_path)
    assert_refused(repeat(study, store), "artifact id")
    assert everything(tmp_path) == before


def test_a_plain_name_is_copied_under_that_name(study, store, tmp_path):
    plant(study, store, tmp_path, filename="renamed.json")
    trial = repeat(study, store)
    assert trial.state == TrialState.COMPLETE and trial.user_attrs[keys.DUPLICATE_OF] == 0
    copied = optuna.artifacts.get_all_artifact_meta(trial, storage=storage_of(study))
    assert [m.filename for m in copied] == ["renamed.json"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_under_successive_halving_the_repeat_fails_and_the_batch_goes_on(study, store, tmp_path):
    plant(study, store, tmp_path, filename="../escape.pth")
    study.enqueue_trial({}, user_attrs={keys.EXTRA_SPEC: SPEC.canonical_json})
    assert ask_candidates(study, searcher(store), 1) == []
    assert_refused(study.trials[-1], "artifact file name")
    assert not (tmp_path / "tmp" / "escape.pth").exists()
