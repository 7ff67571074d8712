"""One record vocabulary: a trial of every kind, written with the writers' keys, read back by every consumer.

The study has the latency objective, so a fourth objective must flow through the front, the
report, export (knee and --max-macs), fidelity and the search summary; a repeated architecture
must count once everywhere (progress line, summary, report, export's provenance).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from nas.analysis.fidelity import select as fidelity_picks
from nas.analysis.fronts import front
from nas.analysis.noise import noise_aware, noisy_points, seed_results
from nas.analysis.selection import select
from nas.analysis.subspaces import analyse
from nas.export import main as export_main
from nas.output.report import TABLE, build_report
from nas.search.new_architectures import NewArchitectures
from nas.search.retrain import Work, plan, store
from nas.search.summary import summary
from nas.study import keys
from nas.study.companion import open_companion
from nas.study.records import arch_records, why_not
from nas.study.storage import storage_for
from nas.training.proxy import ProxyResult
from space import ArchSpec, analytic_cost
from space.features import compile_predicate
from studies import LATENCY, STUDIES

NAME = "roundtrip"
DEFINITION = STUDIES["tiny"]
OBJECTIVES = (*DEFINITION.objectives, LATENCY)


def specs() -> tuple[ArchSpec, ArchSpec, ArchSpec]:
    """Three architectures of the tiny space: the cheapest, a middle one and the costliest."""
    unique = {s.spec_hash: s for _, s in DEFINITION.space.uniform_points()}
    ordered = sorted(unique.values(), key=lambda s: (analytic_cost(s).macs, analytic_cost(s).params))
    return ordered[0], ordered[len(ordered) // 2], ordered[-1]


def result_attrs(spec: ArchSpec, psnr: float, latency: float, preset: str | None) -> dict[str, Any]:
    """What nas.search records on a trial it trained."""
    cost = analytic_cost(spec)
    attrs: dict[str, Any] = {
        keys.SPEC: spec.canonical_json,
        keys.SPEC_HASH: spec.spec_hash,
        keys.MACS_KEY: cost.macs,
        keys.PARAMS_KEY: cost.params,
        keys.PSNR_KEY: psnr,
        keys.SSIM: 0.9,
        keys.PROXY: DEFINITION.cpu_proxy.as_dict(),
        keys.SEED: 0,
        keys.DEVICE: "cpu",
        keys.LATENCY_MS: latency,
    }
    return {**attrs, keys.PRESET: preset} if preset else attrs


def values(attrs: dict[str, Any]) -> list[float]:
    return [float(attrs[o.name]) for o in OBJECTIVES]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, str]:
    """Trials 0-2 COMPLETE (2 only on the 4-objective front, by latency), 3 a repeat of 1, 4 PRUNED over
    budget, 5 FAIL with its reason, 6 PRUNED by successive halving after rung 0."""
    url = f"sqlite:///{tmp_path_factory.mktemp('roundtrip') / 'study.db'}"
    s = optuna.create_study(study_name=NAME, storage=storage_for(url), directions=[o.direction for o in OBJECTIVES])
    s.set_metric_names([o.name for o in OBJECTIVES])
    cheap, middle, costly = specs()
    first = result_attrs(cheap, 30.0, 5.0, "standard")
    second = result_attrs(middle, 30.5, 9.0, None)
    third = result_attrs(costly, 29.0, 1.0, None)  # dominated on PSNR, MACs and params; the fastest
    for attrs in (first, second, third):
        s.add_trial(create_trial(values=values(attrs), user_attrs=attrs))
    s.add_trial(create_trial(values=values(second), user_attrs={**second, keys.DUPLICATE_OF: 1}))
    over = {k: v for k, v in third.items() if k in (keys.SPEC, keys.SPEC_HASH, keys.MACS_KEY, keys.PARAMS_KEY)}
    s.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={**over, keys.REJECTED: "over budget: 9 G > 1 G"}))
    s.add_trial(create_trial(state=TrialState.FAIL, user_attrs={**over, keys.FAIL_REASON: "DivergenceError: nan"}))
    rung = {keys.rung_key(0): {"psnr": 28.0, "iterations": 6}, keys.STOPPED_AT_RUNG: 0}
    s.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={**over, **rung}))
    return s, url


def test_records_count_each_architecture_once_with_objectives_by_name(study):
    records = arch_records(study[0])
    assert [r.number for r in records] == [0, 1, 2]
    assert records[2].value("latency_ms") == 1.0 and records[2].values["psnr"] == 29.0
    assert [r.number for r in front(records)] == [0, 1, 2]  # trial 2 is on it only by latency


def test_why_not_reads_each_kind_of_reason(study):
    trials = study[0].trials
    assert why_not(trials[3]) == "repeat of trial 1"
    assert why_not(trials[4]) == "over budget: 9 G > 1 G"
    assert why_not(trials[5]) == "DivergenceError: nan"
    assert why_not(trials[6]) == "stopped by successive halving after rung 0"


def test_progress_line_counts_the_repeat_once(study, capsys):
    s = study[0]
    assert len(s.best_trials) == 4  # Optuna's own front lists trial 1 and its repeat
    NewArchitectures(7, DEFINITION, 0)(s, s.trials[3])
    assert "(repeat of trial 1, not retrained); front 3 |" in capsys.readouterr().err


def test_summary_lists_four_objectives_and_each_architecture_once(study, tmp_path):
    text = summary(study[0], study[1], tmp_path)
    assert "7 trials" in text and "3 distinct architectures evaluated" in text
    assert "Pareto front (PSNR (dB) max, MACs min, params min, CPU latency (ms) min)" in text
    rows = [line for line in text.splitlines() if line.startswith("  trial")]
    assert [int(r.split()[1]) for r in rows] == [0, 1, 2] and "latency_ms 1" in rows[-1]


def test_report_reads_every_kind(study):
    report = build_report(study[0], None)
    assert report.lines[0].startswith("Study roundtrip: 7 trials (4 complete, 1 fail, 2 pruned)")
    assert "3 distinct architectures evaluated" in report.lines[0] and "3 on the Pareto front" in report.lines[0]
    assert "standard (trial 0)" in report.lines[1]
    table = report.figures[TABLE].data[0]
    assert "CPU latency (ms)" in table.header.values and list(table.cells.values[0]) == [0, 1, 2]
    assert "4-objective front" in report.figures["msnas-pareto-macs"].data[0].name
    assert "CPU latency (ms) min" in report.figures["msnas-hypervolume"].layout.title.subtitle.text


def test_export_reads_values_by_name_and_reasons_from_user_attrs(study, tmp_path, capsys):
    s, url = study
    trials, records = s.get_trials(), arch_records(s)
    assert select(trials, records, "max_macs", 1e6).number == 1  # the best PSNR; its repeat is no candidate
    assert main_export(url, tmp_path / "knee", "--knee") == 0
    info = json.loads((tmp_path / "knee" / "provenance.json").read_text())
    assert info["selected_by"]["front"] == [0, 1, 2]  # no repeat on the front
    assert set(info["values"]) == {"psnr", "macs", "params", "latency_ms"}
    assert "ms CPU latency" in (tmp_path / "knee" / "README.txt").read_text()
    capsys.readouterr()
    assert main_export(url, tmp_path / "fail", "--trial", "5") == 2
    assert "trial 5 is FAIL, not COMPLETE (DivergenceError: nan)" in capsys.readouterr().err
    assert main_export(url, tmp_path / "rung", "--trial", "6") == 2
    assert "(stopped by successive halving after rung 0)" in capsys.readouterr().err


def main_export(url: str, out: Path, *flags: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return export_main(["--study", NAME, "--storage", url, "--out", str(out), *flags])


def test_analysis_counts_each_architecture_once(study):
    predicates = {"all": compile_predicate("scales >= 1"), "one": compile_predicate("scales == 1")}
    analysis = analyse(study[0], predicates, [("all", "one")], n_perm=20)
    assert [r.number for r in analysis.subspaces[0].members] == [0, 1, 2]


def test_fidelity_picks_and_the_noise_aware_front(study):
    s = study[0]
    picks = fidelity_picks(arch_records(s), k=10)
    assert [(p.record.number, p.reason) for p in picks] == [(0, "named"), (1, "front"), (2, "front")]
    work = plan(picks, 1.0, 1)
    assert all(w.budget == DEFINITION.cpu_proxy for w in work)
    companion = open_companion(s)
    store(companion, work[0], None)  # seed 0 at 1x on the CPU: the proxy run itself
    second = Work(picks[0], work[0].budget, 1.0, seed=1)
    store(companion, second, fake_result(30.2, second))
    assert seed_results(s)[picks[0].record.spec_hash] == {0: 30.0, 1: 30.2}
    noisy = noise_aware(noisy_points(arch_records(s), seed_results(s)))
    assert noisy is not None and [p.number for p in noisy.points] == [0, 1, 2]
    assert "msnas-noise-front" in build_report(s, None).figures


def fake_result(psnr: float, work: Work) -> ProxyResult:
    return ProxyResult(psnr, 0.9, 29.0, 0.8, 1.0, 10.0, (0.1,), (("a", psnr, 0.9),), "cpu", work.seed, work.budget)


def test_a_proxy_at_or_below_bicubic_is_flagged_on_the_trial_line_and_in_the_report(tmp_path, capsys):
    s = optuna.create_study(directions=[o.direction for o in DEFINITION.objectives])
    cheap, middle, _ = specs()
    for spec, gain in ((cheap, 0.4), (middle, -0.35)):
        attrs = {**result_attrs(spec, 29.0 + gain, 1.0, None), keys.GAIN: gain}
        s.add_trial(create_trial(values=values(attrs)[:3], user_attrs=attrs))
    NewArchitectures(2, DEFINITION, 0)(s, s.trials[1])
    assert "WARNING: -0.350 dB vs bicubic, the proxy learned nothing" in capsys.readouterr().err
    NewArchitectures(2, DEFINITION, 0)(s, s.trials[0])
    assert "WARNING" not in capsys.readouterr().err
    report = build_report(s, None)
    assert any(line.startswith("WARNING: 1 of 2 architectures score at or below bicubic") for line in report.lines)
    table = report.figures[TABLE].data[0]
    column = list(table.header.values).index("gain vs bicubic (dB)")
    assert "-0.350" in list(table.cells.values[column]) or "+0.400" in list(table.cells.values[column])
    assert "WARNING: 1 of 2 architectures" in summary(s, f"sqlite:///{tmp_path}/s.db", tmp_path)
