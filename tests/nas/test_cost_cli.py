"""The ``python -m nas.cost`` contract that later tooling relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas.cost import main
from space import PRESETS, load_spec, preset

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_plain_numbers(capsys):
    code, out, _ = run_cli(
        capsys, "--backbone", "carn", "--preset", "ms3", "--blocks", "1", "--lr-size", "32", "--json"
    )
    assert code == 0
    data = json.loads(out)
    for key in ("macs", "params", "params_no_bias", "fvcore_total", "ptflops_total"):
        assert isinstance(data[key], int) and data[key] > 0
    assert data["macs"] == data["fvcore_conv"]
    assert data["params"] == data["model_params"] == data["ptflops_params"]
    assert data["ptflops_total"] > data["macs"]  # ptflops adds bias, ReLU and pooling


def test_text_output_names_the_convention(capsys):
    code, out, _ = run_cli(capsys, "--preset", "ms", "--blocks", "1", "--lr-size", "32", "--scale", "2")
    assert code == 0
    assert "paper convention" in out and "equals the analytic count" in out


def test_list_names_every_preset(capsys):
    code, out, _ = run_cli(capsys, "--list")
    assert code == 0
    assert [line.split()[0] for line in out.strip().splitlines()] == list(PRESETS)


def test_dump_spec_loads_back(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "--preset", "ms3", "--backbone", "carn", "--scale", "3", "--dump-spec")
    assert code == 0
    assert load_spec(out) == preset("ms3", "carn", 3)
    path = tmp_path / "spec.json"
    path.write_text(out)
    code, out, _ = run_cli(capsys, "--spec", str(path), "--lr-size", "32", "--json")
    assert code == 0 and json.loads(out)["spec_hash"] == preset("ms3", "carn", 3).spec_hash


def test_paper_table_lists_every_row(capsys):
    code, out, _ = run_cli(capsys, "--paper-table")
    assert code == 0
    assert "MS3-Conv+" in out and "fits no single-width network" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--preset", "nope"], "preset: 'nope' (allowed: standard"),
        (["--backbone", "edsr"], "backbone: 'edsr' (allowed: srresnet, carn)"),
        (["--scale", "8"], "--scale: 8 (allowed: 2, 3, 4)"),
        (["--preset", "ms3-4branch", "--lr-size", "20"], "lr_size: 20x20 is not a multiple of 8"),
        (["--spec", "/nonexistent/spec.json"], "spec: no such file"),
        (["--blocks", "many"], "invalid int value"),
        (["--preset", "ms3", "--spec", "x.json"], "give --spec or --preset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1


def test_bad_spec_file_from_a_real_process(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "backbone": "srresnet",
                "unit": {
                    "split": [1, 1],
                    "edges": [{"src": 0, "dst": 0}, {"src": 1, "dst": 1}, {"src": 1, "dst": 0, "resample": "maxpool"}],
                },
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "nas.cost", "--spec", str(bad)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "nas.cost: error: units[0].edges[1->0].resample: 'maxpool' for an up entry "
        "(allowed: nearest, bilinear, pixelshuffle)"
    )


@pytest.mark.parametrize(("name", "backbone"), [("ms3-4branch", "srresnet"), ("octconv", "srresnet"), ("ms3", "carn")])
def test_counts_at_a_smaller_side_scale_exactly(name: str, backbone: str):
    # every op costs a fixed amount per output pixel: 32x32 counts times 4 equal 64x64 counts
    from backbones import build_model
    from nas.measure.counting import counting_side, fvcore_counts, measure, ptflops_counts

    spec = preset(name, backbone, upscale=2, blocks=1)
    assert counting_side(spec, 64) == 32 and counting_side(spec, 48) == 48  # 32 does not divide 48
    report = measure(spec, 64)
    model = build_model(spec).eval()
    conv, total = fvcore_counts(model, torch.rand(1, 3, 64, 64))
    assert (report.fvcore_conv, report.fvcore_total) == (conv, total) and report.fvcore_conv == report.macs
    assert report.ptflops_total == ptflops_counts(model, (3, 64, 64))[0]


@pytest.mark.parametrize("name", ["standard", "ms3", "ms3-4branch", "octconv"])
def test_counts_read_off_one_block_and_two_equal_the_whole_networks(name: str):
    # SRResNet's blocks are alike when every layer has one unit: counts grow by the same amount each block
    from nas.measure.counting import counts_by_depth, library_counts

    spec = preset(name, "srresnet", upscale=2, blocks=4, width=32)
    assert counts_by_depth(spec, 8, 16) == library_counts(spec, 8, 16)
