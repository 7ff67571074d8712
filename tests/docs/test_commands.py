"""The documentation's commands still run: each page's marked blocks in a temporary folder, and every command's
flags against its --help, so the pages cannot drift from the code (docs/development.md, "This site")."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from tests.docs.blocks import FLAG, ROOT, Block, blocks, commands, module_flags, pages
from tests.docs.page_runs import RUN_PAGES, SHARES, environment, share
from tests.warm import CLIENT, Server

# Runs `python -m MODULE --help` for each module named on argv in one process and prints {module: help} as JSON:
# one interpreter start for every command, and --help exits before any command does work.
HELP_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, runpy, sys
    helps = {}
    for module in sys.argv[1:]:
        out = io.StringIO()
        sys.argv = [module, "--help"]
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        helps[module] = out.getvalue()
    print(json.dumps(helps))
    """
)


def documented_commands() -> list[tuple[Block, str, list[str]]]:
    """Every command on every page that runs a nas or benchmarks module, with its flags."""
    found = []
    for page in pages():
        for block in blocks(page):
            if block.lang not in ("sh", ""):
                continue
            for command in commands(block.text):
                if (parsed := module_flags(command)) is not None:
                    found.append((block, *parsed))
    return found


@pytest.fixture(scope="module")
def helps(warm: Server) -> dict[str, str]:
    """Each documented module's --help text."""
    modules = sorted({module for _, module, _ in documented_commands()})
    done = subprocess.run(
        [sys.executable, "-S", "-E", str(CLIENT), "-c", HELP_SCRIPT, *modules],
        cwd=ROOT,
        env=environment(warm),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_pages_name_commands() -> None:
    """The extraction finds the commands (a test that checks nothing would pass vacuously)."""
    found = documented_commands()
    assert len(found) > 50
    assert {module for _, module, _ in found} >= {"nas.search", "nas.train", "nas.verdict", "nas.regions"}
    assert len(RUN_PAGES) >= 10
    assert sorted(p for k in range(SHARES) for p in share(k)) == sorted(RUN_PAGES)  # every page runs once


@pytest.mark.slow  # starts one process that imports every command
def test_documented_flags_exist(helps: dict[str, str]) -> None:
    """Every flag a page passes to a command is one that the command's --help lists."""
    wrong = []
    for block, module, flags in documented_commands():
        text = helps.get(module, "")
        assert text.startswith("usage:"), f"{block.where()}: python -m {module} --help printed no usage"
        wrong += [
            f"{block.where()}: {module} {flag}" for flag in flags if not re.search(re.escape(flag) + r"(?![\w-])", text)
        ]
    assert not wrong, "flags no --help lists:\n" + "\n".join(wrong)


NOT_OURS = {"--strict", "--artifact-dir"}  # mkdocs' and plain optuna-dashboard's flags, named in the prose


@pytest.mark.slow  # starts one process that imports every command
def test_flags_in_prose_exist(helps: dict[str, str]) -> None:
    """Every flag written in the pages' running text (inline code) is one that some documented command has."""
    every_help = "\n".join(helps.values())
    wrong = []
    for page in pages():
        prose = re.sub(r"^```.*?^```", "", (ROOT / "docs" / page).read_text(), flags=re.S | re.M)
        for span in re.findall(r"`([^`\n]+)`", prose):
            flags = {flag.split("=")[0] for flag in FLAG.findall(span)} - NOT_OURS
            wrong += [
                f"docs/{page}: {flag}" for flag in flags if not re.search(re.escape(flag) + r"(?![\w-])", every_help)
            ]
    assert not wrong, "flags no command has:\n" + "\n".join(wrong)
