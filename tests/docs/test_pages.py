"""The records page names what the code holds: every record key and every storage table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy

from nas.study import keys
from nas.study.claims import CLAIMS
from tests.docs.blocks import DOCS

RECORDS = (DOCS / "records.md").read_text()


def test_records_page_names_every_key() -> None:
    """Every attribute name in nas/study/keys.py is on the records page (a prefix as `prefix<...>`)."""
    names = {value for name, value in vars(keys).items() if name.isupper() and isinstance(value, str)}
    prefixes = {keys.ZC_PREFIX, keys.REGION_PREFIX}
    makers: list[Callable[[int], str]] = [keys.curve_at_key, keys.rung_key, keys.fidelity_summary_key]
    prefixes |= {make(7).removesuffix("7") for make in makers}
    missing = [f"`{n}`" for n in names - prefixes if f"`{n}`" not in RECORDS]
    missing += [f"`{p}<...>`" for p in prefixes if f"`{p}<" not in RECORDS]
    assert not missing, f"docs/records.md does not name: {missing}"


def test_records_page_names_every_table(tmp_path: Path) -> None:
    """Every table of a storage msnas writes, and every column of its claims table, is on the records page."""
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    optuna.storages.RDBStorage(url)
    engine = sqlalchemy.create_engine(url)
    CLAIMS.metadata.create_all(engine)
    tables = set(sqlalchemy.inspect(engine).get_table_names())
    assert CLAIMS.name in tables
    columns = {column.name for column in CLAIMS.columns}
    missing = [name for name in sorted(tables | columns) if f"`{name}`" not in RECORDS]
    assert not missing, f"docs/records.md does not name: {missing}"
