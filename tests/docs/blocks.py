"""The documentation pages read as data: their fenced blocks, which of them the tests run, and the commands in them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARK = re.compile(r"<!--\s*docs-test:\s*(?P<verb>\w+)\s*(?P<arg>[^>]*?)\s*-->")
FENCE = re.compile(r"^```(?P<lang>\w*)\s*$")
MODULE = re.compile(r"(?:python|torchrun)\S*\s+(?:.*?\s)?-m\s+(?P<module>(?:nas|benchmarks)\.[\w.]+)")
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: its language, text, first line, and the docs-test mark before it (if any)."""

    page: str
    lang: str
    text: str
    line: int
    mark: str | None
    timeout: float

    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def pages() -> list[str]:
    """Every Markdown page of the site, by its path under docs/ (the benchmarks page is BENCHMARKS.md itself)."""
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if not p.is_symlink())


def blocks(page: str) -> list[Block]:
    """The fenced blocks of ``page`` in order, each with the docs-test mark on the line before its fence."""
    lines = (DOCS / page).read_text().splitlines()
    found, i, mark, timeout = [], 0, None, 120.0
    while i < len(lines):
        if m := MARK.fullmatch(lines[i].strip()):
            mark = m["verb"]
            timeout = float(m["arg"].split("=")[1]) if m["arg"].startswith("timeout=") else 120.0
        elif m := FENCE.match(lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            found.append(Block(page, m["lang"], "\n".join(lines[i + 1 : end]) + "\n", i + 1, mark, timeout))
            i, mark = end, None
        elif lines[i].strip():
            mark = None  # a mark applies to the block right below it only
        i += 1
    return found


def schema_marks(page: str) -> list[str]:
    """The JSON files that ``<!-- docs-test: schema FILE -->`` marks on ``page`` name."""
    text = (DOCS / page).read_text()
    return [m["arg"] for m in MARK.finditer(text) if m["verb"] == "schema"]


def commands(text: str) -> list[str]:
    """The shell commands of a block, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # a heredoc's body or an unbalanced quote: not a command line
            continue
        if words:
            out.append(" ".join(words))
    return out


def module_flags(command: str) -> tuple[str, list[str]] | None:
    """The ``nas.*`` or ``benchmarks.*`` module a command runs and the flags it passes, if it runs one."""
    m = MODULE.search(command)
    if m is None:
        return None
    rest = command[m.end() :].split("|")[0].split("&&")[0].split(";")[0]
    rest = rest.split(">")[0].split("||")[0]
    return m["module"], [f.split("=")[0] for f in FLAG.findall(rest)]
