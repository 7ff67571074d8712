"""``python -m nas.report --study NAME --out report.html``: a search as one offline HTML page.

The page opens with a table of every evaluated architecture (PSNR with the
interval its seeds allow, gain over bicubic, costs, standing within the study's
ROPE), then the PSNR-vs-MACs and PSNR-vs-params fronts (named paper variants
labelled, error bars where seeds were repeated), the hypervolume history, each
front point's transform matrix, and says which named variants lie on the front.
The same figures are saved into the study, where optuna-dashboard shows them.
Only COMPLETE trials are points: an over-budget trial is PRUNED before training
and appears nowhere; a repeated architecture counts once.

Examples::

    python -m nas.report --study ms3 --out report.html            # storage runs/msnas.db by default
    python -m nas.report --study tiny --storage sqlite:///runs/tiny.db --out tiny.html --no-dashboard
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from nas.cli import Parser, UsageError, run_cli
from nas.output.page import save_to_dashboard, write_html
from nas.output.report import build_report
from nas.study.experimental import experimental_ok
from nas.study.naming import definition_of
from nas.study.storage import DEFAULT_STORAGE, artifact_dir, open_existing_study
from nas.study.urls import public_url


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(
        prog="python -m nas.report",
        description="An HTML report of a search: every architecture, its front and its noise.",
    )
    p.add_argument("--study", required=True, help="the study name in the storage")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    p.add_argument("--out", required=True, help="the HTML file to write (its folder must exist)")
    p.add_argument("--no-dashboard", action="store_true", help="do not save the figures into the study")
    return p.parse_args(argv)


def output_path(text: str) -> Path:
    """The output file, whose folder must exist."""
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"--out: {path} is a folder, give a file name")
    if not path.absolute().parent.is_dir():
        raise UsageError(f"--out: folder {path.absolute().parent} does not exist")
    return path


def run(args: argparse.Namespace) -> str:
    out = output_path(args.out)
    with experimental_ok():
        return write_report(args, out)


def write_report(args: argparse.Namespace, out: Path) -> str:
    """Build the report, write the page and (unless told not to) save the figures into the study."""
    study = open_existing_study(args.storage, args.study)
    report = build_report(study, definition_of(study))
    write_html(out, report)
    if not args.no_dashboard:
        save_to_dashboard(study, report)
    return "\n".join([*report.lines, *where(out, args.storage, args.no_dashboard)])


def where(out: Path, storage: str, no_dashboard: bool) -> list[str]:
    """The last lines printed: where the page is, and how to see the same figures in optuna-dashboard."""
    lines = [f"wrote {out}: open {out.absolute().as_uri()} in a browser (it works offline)"]
    if not no_dashboard:
        lines += [
            "the same figures, with every trial's attributes and artifacts, in optuna-dashboard:",
            f"  {python_command()} -m nas.dashboard --storage {public_url(storage)}"
            f" --artifacts {artifact_dir(storage, None)}",
            "  then open http://127.0.0.1:8080 (the study's page, below its built-in plots)",
        ]
    return lines


def python_command() -> str:
    """This Python (.venv/bin/python after `make setup`), relative when it can be."""
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.report", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
