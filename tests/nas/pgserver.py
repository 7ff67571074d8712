"""A PostgreSQL server of the tests' own (initdb and pg_ctl in a temporary folder, on a free loopback port).

A test may restart or stop it, and give its roles any password, without touching the shared server that
``.ci/postgres.sh`` starts (other tests, or people, may be using that one).  Root cannot run a server, so as
root the server runs as Debian's ``postgres`` user.  Logins over TCP need a password (scram-sha-256); the
tests' own administration goes through the Unix socket, trusted.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from sqlalchemy.engine import URL

ADMIN = "msnas_admin"
SERVER_OPTIONS = "-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200"


def server_bin() -> Path | None:
    """The newest folder holding initdb and pg_ctl (Debian keeps them off PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    on_path = shutil.which("initdb")
    best = found[-1] if found else on_path
    return Path(best).parent if best and (Path(best).parent / "pg_ctl").exists() else None


def why_no_server() -> str | None:
    """Why no server of our own can run here, or None when one can."""
    if server_bin() is None:
        return "no PostgreSQL server programs (initdb, pg_ctl): install Debian's postgresql"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not has_user("postgres")):
        return "running as root, and no postgres user (or runuser) to run the server as"
    return None


def has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One running server: its folder, port and the programs that run it."""

    folder: Path
    port: int
    bin: Path
    prefix: tuple[str, ...]  # runuser -u postgres -- as root

    @classmethod
    def create(cls) -> Server:
        """initdb into a fresh folder, then start."""
        bin_dir = server_bin()
        assert bin_dir is not None, why_no_server()
        folder = Path(tempfile.mkdtemp(prefix="msnas-pg-"))
        prefix: tuple[str, ...] = ()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            prefix = ("runuser", "-u", "postgres", "--")
        server = cls(folder, free_port(), bin_dir, prefix)
        server.run("initdb", "-D", str(server.data), "-U", ADMIN, "-E", "UTF8", "--no-sync",
                   "--auth-local=trust", "--auth-host=scram-sha-256")  # fmt: skip
        server.start()
        return server

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def run(self, program: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bin / program), *args], check=True, capture_output=True, timeout=120)

    def ctl(self, *args: str) -> None:
        """pg_ctl on this server, waiting until it is done."""
        options = f"{SERVER_OPTIONS} -c port={self.port} -c unix_socket_directories={self.folder}"
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", "60", "-o", options, *args)

    def start(self) -> None:
        self.ctl("start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """A fast restart, as ``systemctl restart postgresql`` does: every connection is dropped."""
        self.ctl("-m", "fast", "restart")

    def admin(self, statement: str, *params: str) -> None:
        """A statement run by the superuser, outside a transaction (as CREATE DATABASE must be)."""
        conn = psycopg2.connect(host=str(self.folder), port=self.port, user=ADMIN, dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params or None)
        finally:
            conn.close()

    def database(self, name: str, password: str, driver: str = "postgresql") -> URL:
        """A role and a database ``name`` (made once), the role logging in with ``password``; its URL."""
        with contextlib.suppress(psycopg2.errors.DuplicateObject):
            self.admin(f'CREATE ROLE "{name}" LOGIN')
        with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
            self.admin(f'CREATE DATABASE "{name}" OWNER "{name}"')
        self.admin(f'ALTER ROLE "{name}" PASSWORD %s', password)
        return URL.create(driver, username=name, password=password, host="127.0.0.1", port=self.port, database=name)

    def remove(self) -> None:
        """Stop at once and delete the folder."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.ctl("-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
