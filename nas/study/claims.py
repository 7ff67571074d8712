"""Atomic claims: one trial per architecture trains it, however many workers draw it at once.

Optuna offers no compare-and-set, so two workers that draw one architecture together would both
see "not evaluated yet" and both train it.  A claim is a row of a small table of our own in the
study's database, keyed by (study, spec hash): the database's primary key lets exactly one
INSERT succeed (SQLite and PostgreSQL alike), and the trial that made it trains.  Any other
trial of that architecture waits for the holder and copies its result; when the holder ended
without one (FAIL, a killed worker), a waiter takes the claim over with an UPDATE that names the
holder it replaces, so again only one succeeds.
"""

from __future__ import annotations

import sqlalchemy
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

_METADATA = sqlalchemy.MetaData()
CLAIMS = sqlalchemy.Table(
    "msnas_claims",
    _METADATA,
    sqlalchemy.Column("study_name", sqlalchemy.String(512), primary_key=True),
    sqlalchemy.Column("spec_hash", sqlalchemy.String(64), primary_key=True),
    sqlalchemy.Column("trial_number", sqlalchemy.Integer, nullable=False),
)


class Claims:
    """The claims of one study, in the database behind ``engine`` (the study's own storage)."""

    def __init__(self, engine: sqlalchemy.engine.Engine, study_name: str) -> None:
        self.engine, self.study_name = engine, study_name
        try:
            _METADATA.create_all(engine, checkfirst=True)
        except (IntegrityError, OperationalError, ProgrammingError) as err:  # another worker made it just now
            if "exist" not in str(err).lower() and "unique" not in str(err).lower():
                raise

    def claim(self, spec_hash: str, trial_number: int) -> int:
        """Claim ``spec_hash`` for ``trial_number``; the trial that holds the claim (ours when we won)."""
        row = {"study_name": self.study_name, "spec_hash": spec_hash, "trial_number": trial_number}
        try:
            with self.engine.begin() as conn:
                conn.execute(CLAIMS.insert().values(**row))
            return trial_number
        except IntegrityError:
            holder = self.holder(spec_hash)
            if holder is None:  # released between our INSERT and SELECT: cannot happen, claims are never deleted
                raise
            return holder

    def holder(self, spec_hash: str) -> int | None:
        """The trial that holds the claim on ``spec_hash``, if any."""
        query = sqlalchemy.select(CLAIMS.c.trial_number).where(
            CLAIMS.c.study_name == self.study_name, CLAIMS.c.spec_hash == spec_hash
        )
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else int(value)

    def take_over(self, spec_hash: str, holder: int, trial_number: int) -> bool:
        """Move the claim from ``holder`` (which ended without a result) to ``trial_number``; False when
        another trial took it over first."""
        update = (
            CLAIMS.update()
            .where(
                CLAIMS.c.study_name == self.study_name,
                CLAIMS.c.spec_hash == spec_hash,
                CLAIMS.c.trial_number == holder,
            )
            .values(trial_number=trial_number)
        )
        with self.engine.begin() as conn:
            return conn.execute(update).rowcount == 1
