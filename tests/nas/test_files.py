"""nas.files: names from a storage stay in their folder, no command writes into a root, and writes go to a fresh
temporary file (never through a link planted at its name) renamed onto the target."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from nas import files
from nas.analyze import main as analyze_main
from nas.errors import InputError, UnsafeName
from nas.export import main as export_main
from nas.fidelity import main as fidelity_main
from nas.output.page import Report, write_html
from nas.processes import remove_stale_staging
from nas.regions import main as regions_main
from nas.report import main as report_main
from nas.train import main as train_main
from nas.verdict import main as verdict_main

BAD_NAMES = ["/etc/x.pth", "../x.pth", "a/../../x", "sub/x.json", "a\\b", "x\0.json", ".", "..", "", 3, None]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_a_name_with_a_path_component_is_refused_in_one_line(name: object):
    with pytest.raises(UnsafeName, match="is not a plain file name") as caught:
        files.plain_name(name, "artifact file name")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("artifact file name ")


@pytest.mark.parametrize("name", ["spec.json", ".hidden", "a..b", "proxy json", "é.json"])
def test_a_plain_name_is_kept(name: str):
    assert files.plain_name(name, "x") == name


def test_a_root_is_refused_however_it_is_spelled(tmp_path: Path):
    (tmp_path / "top").symlink_to("/")
    for spelled in ("/", "//", "/..", "/tmp/..", str(tmp_path / "top")):
        with pytest.raises(InputError, match="is the root folder"):
            files.not_root("--out", spelled)
    assert files.not_root("--out", tmp_path / "out") == tmp_path / "out"


def tokens(*values: str) -> Iterator[str]:
    yield from values


def test_a_link_planted_at_the_temporary_name_is_never_written_through(tmp_path: Path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    target = tmp_path / "out" / "page.html"
    target.parent.mkdir()
    drawn = tokens("planted", "fresh")
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(drawn))
    planted = target.with_name(f".page.html.planted.{os.getpid()}.partial")
    planted.symlink_to(victim)
    files.write_atomically(target, "new")
    assert victim.read_text() == "untouched" and target.read_text() == "new" and not target.is_symlink()
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([planted.name, "page.html"])  # the link stays


def test_a_link_at_the_target_is_replaced_not_followed(tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (tmp_path / "summary.txt").symlink_to(victim)
    files.write_atomically(tmp_path / "summary.txt", "new")
    assert victim.read_text() == "untouched" and (tmp_path / "summary.txt").read_text() == "new"
    assert not (tmp_path / "summary.txt").is_symlink()


def test_a_page_never_writes_through_the_old_fixed_partial_name(tmp_path: Path):
    """``report.html.partial`` was the page's temporary file: a link there made nas.report write anywhere."""
    victim = tmp_path / "victim.html"
    victim.write_text("untouched")
    (tmp_path / "report.html.partial").symlink_to(victim)
    write_html(tmp_path / "report.html", Report("t", ["a line"], {}))
    assert victim.read_text() == "untouched" and "a line" in (tmp_path / "report.html").read_text()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path):
    target = tmp_path / "final.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), files.replacing(target) as file:
        file.write(b"half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["final.json"]


def test_the_written_file_gets_the_usual_permissions(tmp_path: Path):
    """A temporary file from ``mkstemp`` is 0600: a report or export would be unreadable by the group."""
    before = os.umask(0o022)
    try:
        files.write_atomically(tmp_path / "r.html", "x")
    finally:
        os.umask(before)
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o644


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def test_temporary_files_of_a_killed_writer_are_removed_and_live_ones_kept(tmp_path: Path):
    stale = tmp_path / f".model.pt.abcd1234.{dead_pid()}.partial"
    live = tmp_path / f".model.pt.abcd1234.{os.getpid()}.partial"
    huge = tmp_path / ".model.pt.abcd1234.99999999999999999999.partial"  # no process has such an id
    for path in (stale, live, huge):
        path.write_text("leftover")
    files.write_atomically(tmp_path / "model.pt", b"weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "model.pt"])


def test_a_stale_link_is_removed_itself_never_its_target(tmp_path: Path):
    victim = tmp_path / "keep"
    victim.mkdir()
    (victim / "data").write_text("kept")
    (tmp_path / f".export.{dead_pid()}.x").symlink_to(victim)
    assert len(remove_stale_staging(tmp_path, ".export.")) == 1
    assert (victim / "data").read_text() == "kept"


def test_a_prefix_is_matched_literally(tmp_path: Path):
    other = tmp_path / f".rab.html.x.{dead_pid()}.partial"  # what the glob [ab] would match
    other.write_text("")
    remove_stale_staging(tmp_path, ".[ab].html.")
    assert other.exists()


Main = Callable[[Sequence[str] | None], int]
ROOT_CASES: list[tuple[str, Main, str, str]] = [
    ("nas.export", export_main, "--study x --storage sqlite:///{d}/none.db --knee --out /", "is the root folder"),
    ("nas.analyze", analyze_main, "--study x --storage sqlite:///{d}/none.db --out /", "is the root folder"),
    ("nas.fidelity", fidelity_main, "--study x --storage sqlite:///{d}/none.db --out /", "is the root folder"),
    ("nas.train", train_main, "--arch {d}/none.json --out /", "is the root folder"),
    ("nas.verdict", verdict_main, "--study x --storage sqlite:///{d}/none.db --out /", "is the root folder"),
    ("nas.regions", regions_main, "--model a={d}/s.json:{d}/w.pt --data {d} --scale 4 --out /", "is the root folder"),
    ("nas.report", report_main, "--study x --storage sqlite:///{d}/none.db --out /", "/ is a folder"),
]


@pytest.mark.parametrize(("prog", "main", "argv", "message"), ROOT_CASES, ids=[c[0] for c in ROOT_CASES])
def test_every_command_that_writes_out_refuses_the_root(tmp_path, capsys, prog, main, argv, message):
    assert main(argv.format(d=tmp_path).split()) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"{prog}: error: --out: "), err
    assert message in err
    assert list(tmp_path.iterdir()) == []
