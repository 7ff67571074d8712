"""``python -m nas.dashboard``: optuna-dashboard on a study storage, the report's figures in the report's order.

The plain ``optuna-dashboard URL --artifact-dir DIR`` shows the same study, with the figures in an order
that changes each time it starts (see ``nas.output.dashboard``).

Examples::

    python -m nas.dashboard                                   # runs/msnas.db, its artifacts beside it
    python -m nas.dashboard --storage sqlite:///runs/ms3.db --port 8081
    python -m nas.dashboard --storage postgresql+psycopg2://user@dbhost/msnas --artifacts /shared/msnas-artifacts
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from nas.cli import Parser, bounded, run_cli
from nas.errors import InputError
from nas.output.dashboard import serve
from nas.study.experimental import experimental_ok
from nas.study.storage import DEFAULT_STORAGE, artifact_dir, storage_for
from nas.study.urls import public_url


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.dashboard", description="optuna-dashboard with figures in the report's order.")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    p.add_argument("--artifacts", default=None, help="artifact folder (default: beside a SQLite file, else runs/)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    args = p.parse_args(argv)
    bounded("--port", args.port, 1, 65535)
    return args


def run(args: argparse.Namespace) -> str:
    """Open the storage here, so that an unreachable server is one line (optuna-dashboard's is a traceback)."""
    if args.storage.startswith("sqlite:") and not Path(args.storage.removeprefix("sqlite:///")).is_file():
        raise InputError(f"--storage: {public_url(args.storage)} is not a SQLite file (run nas.search first)")
    with experimental_ok():
        storage = storage_for(args.storage)
    artifacts = artifact_dir(args.storage, args.artifacts)
    print(f"optuna-dashboard on {public_url(args.storage)} at http://{args.host}:{args.port}", file=sys.stderr)
    serve(storage, artifacts, args.host, args.port)
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.dashboard", lambda: run(parse_args(argv)), interrupted="the server stopped")


if __name__ == "__main__":
    sys.exit(main())
