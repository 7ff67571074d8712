"""Every built-in study end to end on a micro proxy budget: each named variant and a sampled point
(a per-layer one in ``layerwise``) COMPLETE, then report, export and analysis of the study."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.analysis.subspaces import analyse
from nas.export import main as export_main
from nas.output.report import build_report
from nas.search.runner import SearchConfig, run_search
from nas.study import keys
from nas.study.experimental import experimental_ok
from nas.study.naming import named_points
from nas.study.storage import storage_for
from space.features import compile_predicate
from studies import STUDIES, StudyDef
from studies.budget import ProxyBudget

MICRO = ProxyBudget(iterations=2, batch=2, patch=8, peak_lr=1e-3, warmup=1, width=16, blocks=1)
SAMPLED = 1


def queued_names(definition: StudyDef) -> list[str]:
    """The named variants nas.search queues for a study (as its enqueue does)."""
    names = named_points(definition)
    found = [names.get(spec.spec_hash) for _, spec in definition.space.uniform_points()]
    return list(dict.fromkeys(n for n in found if n is not None))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_runs_end_to_end(name: str, tmp_path: Path):
    definition = replace(STUDIES[name], cpu_proxy=MICRO, gpu_proxy=MICRO)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    named = queued_names(definition)
    config = SearchConfig(name, storage=url, n_trials=len(named) + SAMPLED, device="cpu")
    with experimental_ok(), contextlib.redirect_stderr(io.StringIO()):
        summary = run_search(config, definition)
        study = optuna.load_study(study_name=name, storage=storage_for(url))
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * len(trials), [t.user_attrs for t in trials]
    assert {t.user_attrs.get(keys.PRESET) for t in trials[: len(named)]} == set(named)
    if definition.space.layerwise:
        sampled = [t for t in trials if keys.PRESET not in t.user_attrs]
        assert sampled and all(len(optuna_spec_units(t)) > 1 for t in sampled)  # per-layer matrices trained
    assert "Pareto front" in summary

    report = build_report(study, definition)
    assert report.lines[0].startswith(f"Study {name}: {len(trials)} trials")

    out = tmp_path / "export"
    with contextlib.redirect_stdout(io.StringIO()):
        assert export_main(["--study", name, "--storage", url, "--knee", "--out", str(out)]) == 0
    assert (out / "model.onnx").is_file()

    predicates = {n: compile_predicate(t) for n, t in definition.subspaces.items()}
    analysis = analyse(study, predicates, [], n_perm=10, optional=set(predicates))
    assert {s.name for s in analysis.subspaces} | set(analysis.empty) == set(predicates)


def optuna_spec_units(trial: optuna.trial.FrozenTrial) -> list[object]:
    return list(json.loads(trial.user_attrs[keys.SPEC])["units"])
