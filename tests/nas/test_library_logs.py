"""Library code never prints: it logs, and only the command-line modules decide what reaches the terminal."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
import tomllib

from nas.cli import terminal_output

ROOT = Path(__file__).resolve().parents[2]
CLI_CONTRACT = "nothing imports a command-line module"


def command_line_files() -> set[Path]:
    """The command-line modules as pyproject.toml's import contract lists them, and nas.cli, which they share."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == CLI_CONTRACT)
    return {ROOT / (m.replace(".", "/") + ".py") for m in [*contract["forbidden_modules"], "nas.cli"]}


def prints_in(path: Path) -> list[int]:
    """The lines of ``path`` that call print."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]


def test_no_library_module_prints() -> None:
    commands = command_line_files()
    assert all(path.exists() for path in commands), sorted(str(p) for p in commands if not p.exists())
    library = [p for p in sorted((ROOT / "nas").rglob("*.py")) if p not in commands]
    assert len(library) > 20
    printing = {str(p.relative_to(ROOT)): lines for p in library if (lines := prints_in(p))}
    assert printing == {}, "library modules log through logging.getLogger(__name__); only CLIs print"


def test_a_print_is_found(tmp_path: Path) -> None:
    code = tmp_path / "m.py"
    code.write_text("import sys\n\ndef f():\n    print('x', file=sys.stderr)\n")
    assert prints_in(code) == [4]


def test_library_lines_reach_stderr_once_and_plain(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("nas.search.somewhere")
    with terminal_output(), terminal_output():  # nested (a command called by a command, a test's fixture): once
        logger.info("trial 3 starts")
        logger.debug("not shown")
    assert capsys.readouterr() == ("", "trial 3 starts\n")


def test_quiet_level_is_restored(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("nas.search.somewhere")
    with terminal_output(logging.WARNING):
        logger.info("progress")
        logger.warning("storage: the database server cannot be reached")
    logger.info("progress again")  # the fixture's level (INFO) holds again
    assert capsys.readouterr().err == "storage: the database server cannot be reached\nprogress again\n"
