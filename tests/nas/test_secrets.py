"""A storage password never leaves the URL it was given in: grep everything a real run on PostgreSQL produces.

The run: ``nas.search`` (tiny study), ``nas.report``, ``nas.export``, ``nas.analyze`` and ``nas.fidelity``
on one PostgreSQL URL that carries the password, then a search that fails to connect.  Searched for the
password: every line printed, every file written (reports, provenance, exports, artifacts), and every
attribute stored in the database (study and trial user/system attributes of every study, companion
studies and saved figures included).  Needs the server of ``.ci/postgres.sh`` (see the workers' test).
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import sqlalchemy

from nas.analyze import main as analyze_main
from nas.export import main as export_main
from nas.fidelity import main as fidelity_main
from nas.report import main as report_main
from nas.search.__main__ import main as search_main
from nas.study.storage import storage_for

pytestmark = pytest.mark.slow


def stored_text(url: str) -> str:
    """Every study's and trial's attributes in the storage, as one text."""
    storage = storage_for(url)
    parts = []
    for name in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        study_id = storage.get_study_id_from_name(name)
        parts += [repr(storage.get_study_user_attrs(study_id)), repr(storage.get_study_system_attrs(study_id))]
        parts += [repr((t.user_attrs, t.system_attrs, t.params)) for t in study.get_trials(deepcopy=False)]
    return "\n".join(parts)


def test_the_password_appears_in_no_output_file_or_stored_attribute(postgres_url: str, tmp_path: Path, capsys):
    password = sqlalchemy.engine.make_url(postgres_url).password
    assert password, "the test server's URL has a password"
    out = tmp_path / "out"
    out.mkdir()
    common = ["--study", "tiny", "--storage", postgres_url]
    search = [*common, "--n-trials", "4", "--artifacts", str(tmp_path / "art")]
    assert search_main(search) == 0
    assert search_main(search) == 0  # resumed: the space is exhausted after 5 trainings
    assert report_main([*common, "--out", str(out / "report.html")]) == 0
    assert export_main([*common, "--knee", "--out", str(out / "export")]) == 0
    assert analyze_main([*common, "--out", str(out / "analysis"), "--perm", "20", "--boot", "20"]) == 0
    fidelity = [*common, "--k", "3", "--budget-x", "1", "--seeds", "1", "--out", str(out / "fidelity")]
    assert fidelity_main(fidelity) == 0
    wrong_port = postgres_url.replace(f":{sqlalchemy.engine.make_url(postgres_url).port}/", ":9/")
    assert search_main(["--study", "tiny", "--storage", wrong_port, "--n-trials", "1"]) == 2

    printed = "".join(capsys.readouterr())
    written = [p for root in (out, tmp_path / "art") for p in root.rglob("*") if p.is_file()]
    assert len(written) > 10  # report, export files, analysis, fidelity, the trials' artifacts
    leaked = [str(p) for p in written if password.encode() in p.read_bytes()]
    assert leaked == []
    assert password not in printed
    assert "***" in printed  # the URL is printed, masked ("next:" lines, the failed connection)
    assert password not in stored_text(postgres_url)
