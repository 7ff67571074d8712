"""The 291-set race replayed from its committed storage under this checkout's planner (only where the race's
training and validation folders, ../shared/data, are present: runs are matched to their data by content)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.race_replay import replay, report
from nas.search.race import RaceConfig, open_race
from nas.study.experimental import experimental_ok

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
STORED = ROOT / "benchmarks" / "records" / "2026-12-06-verdict" / "verdict291.db"
FOLDERS = ("T91", "BSD200", "Set5", "Set14")


@pytest.mark.skipif(
    not all((DATA / f).is_dir() for f in FOLDERS),
    reason=f"../shared/data not present: {DATA} lacks one of {', '.join(FOLDERS)}, so the runs cannot be matched",
)
def test_the_291_race_replayed_spends_18_of_its_20_trainings_and_keeps_the_practical_front(tmp_path: Path):
    shutil.copy(STORED, tmp_path / "race.db")  # opening a storage may bring its schema up to date: a copy
    data, val = (str(DATA / "T91"), str(DATA / "BSD200")), (str(DATA / "Set5"), str(DATA / "Set14"))
    config = RaceConfig("ms3", f"sqlite:///{tmp_path / 'race.db'}", data=data, val_data=val, budgets=(10.0,),
                        report_only=True)  # fmt: skip
    with experimental_ok():
        r = open_race(config)
    state, runs, lacking, stored = replay(r)
    assert state.done and not lacking and len(runs) == 18
    assert sorted(r.names[a] for a in state.active) == ["ms", "ms3", "standard"]
    left = {r.names[a]: why for a, why in state.left.items()}
    assert "not better than ms2-no-lh by more than 0.05 dB" in left["ms3-l"]
    assert report(r, state, runs, lacking, stored)[-1].endswith("race / uniform 0.64")
