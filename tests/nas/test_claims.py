"""Atomic claims: exactly one trial trains an architecture, however many workers draw it together."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import optuna
from optuna.trial import TrialState, create_trial

from nas.search.objective import Searcher
from nas.study import keys
from nas.study.claims import Claims
from nas.study.optuna_adapter import engine_of
from nas.study.storage import storage_for


def claims_at(db: Path, study: str = "s") -> Claims:
    engine = engine_of(storage_for(f"sqlite:///{db}"))
    assert engine is not None
    return Claims(engine, study)


def test_the_first_claim_wins_and_a_take_over_names_the_holder(tmp_path: Path):
    claims = claims_at(tmp_path / "c.db")
    assert claims.claim("h", 3) == 3
    assert claims.claim("h", 5) == 3 and claims.holder("h") == 3
    assert claims.claim("other", 5) == 5
    assert not claims.take_over("h", 4, 5)  # 4 does not hold it
    assert claims.take_over("h", 3, 5) and claims.holder("h") == 5
    assert not claims.take_over("h", 3, 6)  # a second waiter that saw 3 fail comes too late
    assert claims_at(tmp_path / "c.db", "another study").claim("h", 9) == 9  # claims are per study


def _claim_in_a_process(db: str, number: int, start: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue):
    claims = claims_at(Path(db))
    start.wait()
    out.put((number, claims.claim("same", number)))


def test_six_processes_claiming_together_agree_on_one_holder(tmp_path: Path):
    db = tmp_path / "race.db"
    claims_at(db)  # the table exists: the race is on the claim, not on creating the table
    ctx = multiprocessing.get_context("fork")  # each opens the file anew (claims_at); spawn re-imported torch, 6x 1.5 s
    start, out = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_claim_in_a_process, args=(str(db), n, start, out)) for n in range(6)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    (holder,) = set(results.values())
    assert results[holder] == holder  # the holder is one of them, and it was told it won


def searcher_on(study: optuna.Study, claims: Claims) -> Searcher:
    """Only the claim logic of a Searcher is used here: no data, no training."""
    return Searcher(None, (), None, None, 0, None, {}, claims)  # type: ignore[arg-type]


def trial_with(study: optuna.Study, spec_hash: str, state: TrialState) -> int:
    values = [30.0, 1.0, 1.0] if state == TrialState.COMPLETE else None
    study.add_trial(create_trial(state=state, values=values, user_attrs={keys.SPEC_HASH: spec_hash}))
    return study.trials[-1].number


def test_a_drawn_architecture_whose_holder_finished_reuses_its_result(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    study = optuna.create_study(study_name="w", storage=storage_for(url), directions=["maximize"] * 3)
    claims = claims_at(tmp_path / "w.db", "w")
    done = trial_with(study, "h", TrialState.COMPLETE)
    assert claims.claim("h", done) == done
    trial = study.ask()
    found = searcher_on(study, claims)._claim_or_wait(trial, "h", claims)
    assert found is not None and found.number == done


def test_a_holder_that_failed_hands_the_claim_over(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    study = optuna.create_study(study_name="f", storage=storage_for(url), directions=["maximize"] * 3)
    claims = claims_at(tmp_path / "f.db", "f")
    failed = trial_with(study, "h", TrialState.FAIL)
    claims.claim("h", failed)
    trial = study.ask()
    assert searcher_on(study, claims)._claim_or_wait(trial, "h", claims) is None  # it trains
    assert claims.holder("h") == trial.number


def test_only_an_rdb_storage_has_an_engine():
    assert engine_of(optuna.storages.InMemoryStorage()) is None


def test_a_study_made_again_under_its_name_does_not_inherit_the_old_claims(tmp_path: Path):
    from nas.search.runner import claims_name, open_study
    from studies import STUDIES

    storage = storage_for(f"sqlite:///{tmp_path}/s.db")
    first, created = open_study(STUDIES["tiny"], storage, seed=0)
    old = claims_name(first)
    assert created and old.startswith("tiny#")
    engine = engine_of(storage)
    assert engine is not None
    Claims(engine, old).claim("h", 4)
    optuna.delete_study(study_name="tiny", storage=storage)
    again, created = open_study(STUDIES["tiny"], storage, seed=0)  # SQLite even gives it the same study id
    assert created and claims_name(again) != old
    assert Claims(engine, claims_name(again)).claim("h", 0) == 0  # trial 4 of the deleted study holds nothing here
