"""Storage URLs (``nas.study.urls``): masking goes by SQLAlchemy's parse of the URL, wherever the password sits; a
URL that does not parse, or parses wrongly (an @ left in a password), is refused without being repeated."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from nas.errors import InputError
from nas.study.urls import engine_url, public_url

SECRET = "Zq9@%:x{0}"
ENCODED = "Zq9%40%25%3Ax%7B0%7D"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql+psycopg2://u:{ENCODED}@h:5432/db", "postgresql+psycopg2://u:***@h:5432/db"),
        (f"postgresql+psycopg2://u@h/db?password={ENCODED}", "postgresql+psycopg2://u@h/db?password=***"),
        (f"postgresql://u:{ENCODED}@h/db?sslpassword={ENCODED}&sslmode=require",
         "postgresql://u:***@h/db?sslmode=require&sslpassword=***"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite:///runs/msnas.db", "sqlite:///runs/msnas.db"),
    ],
)  # fmt: skip
def test_a_password_is_masked_wherever_it_sits(url: str, shown: str) -> None:
    assert public_url(url) == shown
    assert SECRET not in public_url(url) and ENCODED not in public_url(url)


def test_the_url_opened_names_the_installed_driver_and_keeps_the_password() -> None:
    opened = make_url(engine_url(f"postgresql://u:{ENCODED}@h/db"))
    assert opened.drivername == "postgresql+psycopg2" and opened.password == SECRET
    assert engine_url("sqlite:///runs/msnas.db") == "sqlite:///runs/msnas.db"
    assert make_url(engine_url(f"postgresql+psycopg2://u@h/db?password={ENCODED}")).query["password"] == SECRET


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg2://u:{SECRET}@h/db",  # an @ left in the password: host '...@h'
        "postgresql+psycopg2://u@h:5432/db?password=a@b",  # an @ in the query: user u@h, password 5432/db?...
        "postgresql+psycopg2://u:Zq9secret@h:54x32/db",  # a port that is not a number
        "Zq9secret",
    ],
)
def test_a_url_that_does_not_parse_is_refused_unrepeated(url: str) -> None:
    with pytest.raises(InputError) as caught:
        public_url(url)
    message = str(caught.value)
    assert "not shown" in message
    assert [part for part in ("Zq9", "u:", "u@", "h/db", "a@b") if part in message] == []
