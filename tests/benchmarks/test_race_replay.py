"""The 291-set race replayed from its committed storage under this checkout's planner, and the uniform designs
fixed in advance that its runs allow (only where the race's training and validation folders, ../shared/data, are
present: runs are matched to their data by content)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.race_replay import fixed_designs, replay, report
from nas.search.race import RaceConfig, open_race
from nas.study.experimental import experimental_ok

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
# the race's 20 runs (2026-12-06) and three more, so that every candidate has 3 seeds (2026-12-07)
STORED = ROOT / "benchmarks" / "records" / "2026-12-07-verdict" / "uniform291.db"
FOLDERS = ("T91", "BSD200", "Set5", "Set14")


@pytest.mark.skipif(
    not all((DATA / f).is_dir() for f in FOLDERS),
    reason=f"../shared/data not present: {DATA} lacks one of {', '.join(FOLDERS)}, so the runs cannot be matched",
)
def test_the_291_race_spends_18_trainings_where_2_seeds_each_fixed_in_advance_remove_the_same(tmp_path: Path):
    shutil.copy(STORED, tmp_path / "race.db")  # opening a storage may bring its schema up to date: a copy
    data, val = (str(DATA / "T91"), str(DATA / "BSD200")), (str(DATA / "Set5"), str(DATA / "Set14"))
    config = RaceConfig("ms3", f"sqlite:///{tmp_path / 'race.db'}", data=data, val_data=val, budgets=(10.0,),
                        report_only=True)  # fmt: skip
    with experimental_ok():
        r = open_race(config)
    played = replay(r)
    state = played.state
    assert state.done and not played.lacking and len(played.runs) == 18
    assert played.skipped == ["ms3 seed 3 at 10x"]  # a second worker's run the pool lacks: said, not hidden
    assert sorted(r.names[a] for a in state.active) == ["ms", "ms3", "standard"]
    left = {r.names[a]: why for a, why in state.left.items()}
    assert "not better than ms2-no-lh by more than 0.05 dB" in left["ms3-l"]
    assert report(r, played)[-1].endswith("race / uniform 0.64")
    one, two, three, four = fixed_designs(r, state)
    assert "removes none" in one
    assert "(14 runs," in two and "(the same as the race)" in two and "reaches 2 of the race's 2" in two
    assert "(the same as the race)" in three
    assert four.startswith("uniform, 4 seeds each: the storage lacks standard seed 3")
