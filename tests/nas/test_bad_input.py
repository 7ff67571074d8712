"""Bad input that used to be a traceback (or ran unbounded) is one line naming the field, exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.analyze import main as analyze_main
from nas.cost import main as cost_main
from nas.fidelity import main as fidelity_main
from nas.search.__main__ import main as search_main
from space import SpecError, preset
from space.features import compile_predicate


def one_error_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"{prog}: error: "), err
    return err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"backbone": ' + b"9" * 5000 + b"}", "not a usable JSON value"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
    ],
)
def test_unreadable_spec_files(tmp_path: Path, capsys, content: bytes, message: str):
    path = tmp_path / "spec.json"
    path.write_bytes(content)
    assert cost_main(["--spec", str(path)]) == 2
    assert message in one_error_line(capsys, "nas.cost")


def test_sizes_are_bounded(tmp_path: Path, capsys):
    wide = {**preset("ms3").to_dict(), "width": 1_000_000, "region_width": 1_000_000}
    (tmp_path / "wide.json").write_text(json.dumps(wide))
    assert cost_main(["--spec", str(tmp_path / "wide.json")]) == 2
    assert "width: 1000000 must be an integer in 1..4096" in one_error_line(capsys, "nas.cost")
    assert cost_main(["--preset", "standard", "--lr-size", "100000"]) == 2
    assert "a side is larger than 4096" in one_error_line(capsys, "nas.cost")


def test_deep_or_long_predicates_are_refused():
    with pytest.raises(SpecError, match="nested more than 50 deep"):
        compile_predicate("not " * 200 + "shared")
    with pytest.raises(SpecError, match="characters"):
        compile_predicate("not " * 1000 + "shared")


@pytest.mark.parametrize(
    ("main", "prog", "argv", "message"),
    [
        (fidelity_main, "nas.fidelity", ["--study", "s", "--budget-x", "nan"], "--budget-x: nan is not in"),
        (
            fidelity_main,
            "nas.fidelity",
            ["--study", "s", "--budget-x", "1e12"],
            "--budget-x: 1000000000000.0 is not in",
        ),
        (analyze_main, "nas.analyze", ["--study", "s", "--out", "o", "--perm", "1000000000"], "--perm: 1000000000"),
        (analyze_main, "nas.analyze", ["--study", "s", "--out", "o", "--budget-x", "inf"], "--budget-x: inf"),
    ],
)
def test_numbers_are_bounded(capsys, main, prog: str, argv: list[str], message: str):
    assert main(argv) == 2
    assert message in one_error_line(capsys, prog)


@pytest.mark.parametrize(
    ("storage", "artifacts", "message"),
    [
        ("sqlite:///:memory:", None, "keeps nothing after this process ends"),
        ("sqlite://", None, "keeps nothing after this process ends"),
        ("sqlite:///FILE/sub/study.db", None, "--storage: cannot make the folder"),
        ("sqlite:///DIR/study.db", "FILE", "--artifacts: cannot use"),
    ],
)
def test_storage_and_artifact_paths(tmp_path: Path, capsys, storage: str, artifacts: str | None, message: str):
    (tmp_path / "FILE").write_text("a file, not a folder")
    storage = storage.replace("FILE", str(tmp_path / "FILE")).replace("DIR", str(tmp_path))
    argv = ["--study", "tiny", "--n-trials", "1", "--storage", storage]
    argv += ["--artifacts", str(tmp_path / artifacts)] if artifacts else []
    assert search_main(argv) == 2
    assert message in one_error_line(capsys, "nas.search")
    assert not (tmp_path / "study.db").exists()
