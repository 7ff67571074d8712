"""``benchmarks.region_models``: named variants trained at the study's proxy recipe and kept as nas.train folders
that ``nas.regions`` reads; a second run resumes (skips what is trained)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.region_models import main
from nas.sr.evaluation import load_model
from space import load_spec
from studies import STUDIES


def test_variants_are_trained_kept_and_skipped_once_done(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["--study", "tiny", "--variants", "standard,ms3", "--budget-x", "0.5", "--device", "cpu"]
    main([*argv, "--out", str(tmp_path)])
    budget = STUDIES["tiny"].cpu_proxy.scaled(0.5)
    assert f"standard: {budget.iterations} iterations" in capsys.readouterr().out
    for name in ("standard", "ms3"):
        spec = load_spec(tmp_path / name / "spec.json")
        assert spec.upscale == STUDIES["tiny"].space.upscale
        load_model(spec, tmp_path / name / "model.pt")  # the weights fit the spec saved beside them
    main([*argv, "--out", str(tmp_path)])
    assert capsys.readouterr().out.count("already trained") == 2
