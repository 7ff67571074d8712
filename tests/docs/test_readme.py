"""The README is a front page: its set-up and test commands are the ones CI uses, and it stays short."""

from __future__ import annotations

import re

from tests.docs.blocks import ROOT, commands

README = (ROOT / "README.md").read_text()


def ci_test_command() -> str:
    """The command .ci/run ends with: the README's test command."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")][-1]


def readme_commands() -> list[str]:
    """The commands of the README's shell blocks."""
    found = re.findall(r"^```sh\n(.*?)^```", README, flags=re.S | re.M)
    return [command for block in found for command in commands(block)]


def test_readme_has_ci_test_command_and_setup() -> None:
    """The README's set-up and test commands are the ones .ci/run and the Makefile use."""
    assert ci_test_command() == "make test"
    assert {"make setup", "make test"} <= set(readme_commands())


def test_readme_is_short() -> None:
    """The README stays a front page; the rest is in docs/."""
    assert len(README.splitlines()) < 150
