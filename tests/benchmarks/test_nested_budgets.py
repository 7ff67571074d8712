"""benchmarks.nested_budgets refuses what it cannot run before it opens anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.nested_budgets import main


@pytest.mark.parametrize("shard", ["2/2", "1", "a/2", "-1/2", "0/0"])
def test_a_shard_that_is_not_i_of_n_is_refused(shard: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--storage", f"sqlite:///{tmp_path / 'race.db'}", "--shard", shard])
    assert stop.value.code == 2 and "--shard" in capsys.readouterr().err
    assert not (tmp_path / "race.db").exists()


def test_a_report_of_a_missing_storage_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--storage", f"sqlite:///{tmp_path / 'race.db'}", "--report-only"])
    assert stop.value.code == 2 and "no such SQLite file" in capsys.readouterr().err
    assert not (tmp_path / "race.db").exists()
