"""A storage password never leaves the URL it was given in: grep everything a real run on PostgreSQL produces.

The run: ``nas.search`` (tiny study), ``nas.report``, ``nas.export``, ``nas.analyze`` and ``nas.fidelity``
on one PostgreSQL URL that carries the password, in its userinfo and then in its query, then a search that
fails to connect.  Searched for the password: every line printed, every file written (reports, provenance,
exports, artifacts), and every attribute stored in the database (study and trial user/system attributes of
every study, companion studies and saved figures included).  Needs the server of ``.ci/postgres.sh`` (see
the workers' test).

Then a property over URL forms x passwords (one character, ``@``, ``%``, ``:``, all of them with braces), on
the tests' own server, where each password is a real role's: every command that opens, shows or fails on the
URL, and the "next:" lines, print no form of the password, mask nothing but the password (a one-letter
password masked inside other words revealed it), and either open the URL with exactly that password or refuse
it in one line that does not repeat it.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import optuna
import pytest
import sqlalchemy

from nas.analyze import main as analyze_main
from nas.dashboard import main as dashboard_main
from nas.errors import InputError
from nas.export import main as export_main
from nas.fidelity import main as fidelity_main
from nas.report import main as report_main
from nas.search.__main__ import main as search_main
from nas.search.summary import summary
from nas.study.storage import storage_for
from tests.nas.pgserver import Server

pytestmark = pytest.mark.slow

PASSWORDS = ["e", "@", "%", ":", "a@b%c:d{0}"]
FORMS = {  # how a user may write the URL: (user, password, port, database) -> URL
    "userinfo": lambda u, pw, port, db: f"postgresql+psycopg2://{u}:{quote(pw, safe='')}@127.0.0.1:{port}/{db}",
    "userinfo, not encoded": lambda u, pw, port, db: f"postgresql+psycopg2://{u}:{pw}@127.0.0.1:{port}/{db}",
    "query": lambda u, pw, port, db: f"postgresql+psycopg2://{u}@127.0.0.1:{port}/{db}?password={quote_plus(pw)}",
    "query, not encoded": lambda u, pw, port, db: f"postgresql+psycopg2://{u}@127.0.0.1:{port}/{db}?password={pw}",
    "no driver": lambda u, pw, port, db: f"postgresql://{u}:{quote(pw, safe='')}@127.0.0.1:{port}/{db}",
    "bad port": lambda u, pw, port, db: f"postgresql+psycopg2://{u}:{quote(pw, safe='')}@127.0.0.1:{port}x/{db}",
}
MASKED = re.compile(r":\*\*\*@|=\*\*\*|in place of \*\*\*")  # where *** may stand: the URL's password, the advice


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


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_the_password_appears_in_no_output_file_or_stored_attribute(
    form: str, postgres_url: str, tmp_path: Path, capsys
):
    password = sqlalchemy.engine.make_url(postgres_url).password
    assert password, "the test server's URL has a password"
    if form == "query":  # postgresql+psycopg2://user@host/db?password=... (psycopg2 takes it)
        parts = sqlalchemy.engine.make_url(postgres_url)
        postgres_url = parts.set(password=None).update_query_dict({"password": password}).render_as_string(False)
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
    assert search_main(["--study", "tiny", "--storage", wrong_port, "--n-trials", "1", "--artifacts", str(out)]) == 2

    printed = "".join(capsys.readouterr())
    written = [p for root in (out, tmp_path / "art") for p in root.rglob("*") if p.is_file()]
    assert len(written) > 10  # report, export files, analysis, fidelity, the trials' artifacts
    leaked = [str(p) for p in written if password.encode() in p.read_bytes()]
    assert leaked == []
    assert password not in printed
    assert "***" in printed  # the URL is printed, masked ("next:" lines, the failed connection)
    assert password not in stored_text(postgres_url)


def secret_forms(password: str) -> set[str]:
    """The ways a URL writes the password: in the userinfo, in the query, as a repr."""
    values = {password, quote(password, safe=""), quote_plus(password)}
    return {f":{v}@" for v in values} | {f"password={v}" for v in values} | {repr(password)}


def leaks(text: str, password: str) -> list[str]:
    """What of the password ``text`` shows: a written form of it, the whole of a long one, a *** off the URL."""
    found = [form for form in secret_forms(password) if form in text]
    found += [password] if len(password) >= 4 and password in text else []
    return found + (["*** outside a URL's password"] if "***" in MASKED.sub("", text) else [])


def outputs(url: str, port: int, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[int], str]:
    """Exit codes and everything printed by commands that open, show, or fail on ``url``, and the "next:" lines."""
    closed, gone = url.replace(f":{port}/", ":9/"), url.replace(f":{port}/{db}", f":{port}/{db}_gone")
    search = ["--study", "tiny", "--n-trials", "1", "--artifacts", str(tmp_path / "art")]
    codes = [
        report_main(["--study", "nosuch", "--storage", url, "--out", str(tmp_path / "r.html")]),
        dashboard_main(["--storage", closed]),
        search_main([*search, "--storage", gone]),
    ]
    texts = ["".join(capsys.readouterr())]
    try:
        storage = storage_for(url)
        study = optuna.create_study(study_name="s", storage=storage, directions=["maximize"] * 3, load_if_exists=True)
        texts.append(summary(study, url, tmp_path / "art"))
    except InputError as err:
        texts.append(str(err))
    return codes, "\n".join(texts)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("password", PASSWORDS)
def test_every_url_form_and_password_is_masked_or_refused(
    form: str, password: str, private_postgres: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"secret{PASSWORDS.index(password)}"
    private_postgres.database(db, password)
    url = FORMS[form](db, password, private_postgres.port, db)
    refused = form == "bad port" or ("not encoded" in form and "@" in password)
    codes, text = outputs(url, private_postgres.port, db, tmp_path, capsys)
    assert codes == [2, 2, 2]
    assert leaks(text, password) == [], text
    if refused:  # one line that does not repeat the URL
        assert "not shown" in text and "127.0.0.1" not in text, text
    else:  # opened with exactly this password: the study was missing, the server never refused the login
        assert "no study 'nosuch'" in text and "next (with the storage's password in place of ***)" in text, text
        assert 'cannot connect to the database server (connection to server at "127.0.0.1", port 9 failed' in text
        assert f'database "{db}_gone" does not exist' in text
