"""Storage URLs, read with SQLAlchemy's own URL object: shown with every password masked, opened with the driver
we install, and never echoed when they do not parse.

A password may sit in the userinfo (``user:pw@host``) or in the query (``?password=pw``, which psycopg2 takes).
Masking the parsed fields, never searching a message for the password's text, is what keeps a one-letter
password from being revealed by the words it was masked in; a URL that does not parse may hold a password
where we cannot find it, so it is never repeated.
"""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from nas.errors import InputError

MASK = "***"
SECRET_WORDS = ("pass", "secret", "token")  # a query key holding one is masked: password, sslpassword, passwd
DRIVERS = {"postgresql": "postgresql+psycopg2"}  # SQLAlchemy 2.1 opens a bare postgresql:// with psycopg 3; we have 2


def parsed(url: str) -> URL:
    """``url`` as SQLAlchemy reads it; InputError, without the URL, when it does not parse."""
    try:
        parts = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise InputError(
            "--storage: not an SQLAlchemy URL (dialect+driver://user:password@host/database, or sqlite:///PATH);"
            " not shown, as it may hold a password"
        ) from None
    if "@" in (parts.host or "") + (parts.username or ""):  # user:p@ss@host reads as password p, host ss@host
        raise InputError("--storage: the URL holds a second @: write an @ in a password as %40 (the URL is not shown)")
    return parts


def is_secret(key: str) -> bool:
    """Whether a query parameter holds a secret (``password``, ``sslpassword``, ...)."""
    return any(word in key.lower() for word in SECRET_WORDS)


def public_url(url: str) -> str:
    """``url`` as it may be printed or recorded: a password in the userinfo or the query shown as ***."""
    parts = parsed(url)
    masked = parts.update_query_dict({key: MASK for key in parts.query if is_secret(key)})
    return masked.render_as_string(hide_password=True).replace(quote(MASK, safe=""), MASK)


def engine_url(url: str) -> str:
    """``url`` for SQLAlchemy to open, written out again (the password percent-encoded, so that Optuna's
    ``{SCHEMA_VERSION}`` template sees no braces of it), a bare ``postgresql://`` naming psycopg2."""
    parts = parsed(url)
    return parts.set(drivername=DRIVERS.get(parts.drivername, parts.drivername)).render_as_string(hide_password=False)
