"""The code's shape (issue 30; ``make lint`` runs this file): no function over 60 lines, and no library module over
400 lines unless its docstring says why it stays long (a line starting "Long because")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("space", "backbones", "studies", "nas")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_the_scan_sees_the_code() -> None:
    assert len(modules()) > 100
    assert (ROOT / "nas" / "search" / "runner.py") in modules()


def test_no_function_over_60_lines() -> None:
    found = [line for path in modules() for line in long_functions(path)]
    assert not found, "functions over 60 lines (split them):\n" + "\n".join(found)


def test_long_modules_say_why() -> None:
    long = []
    for path in modules():
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES and "Long because" not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not long, "modules over 400 lines whose docstring does not say why (split by concept):\n" + "\n".join(long)
