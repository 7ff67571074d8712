"""``python -m nas.evaluate`` and its library functions, on small folders made here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import backbones
from nas.evaluate import main
from nas.sr.evaluation import EvalResult, degraded, evaluate_folder, evaluate_images, model_upscaler
from nas.sr.images import ImageError, list_images, load_image, to_float
from nas.sr.metrics import modcrop
from space import preset

SPEC = preset("ms3", blocks=1)  # x4, the smallest SRResNet


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nas.evaluate: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    data = pytest.importorskip("skimage.data", reason="scikit-image not installed: no bundled test photo")
    return np.asarray(data.astronaut(), dtype=np.uint8)


@pytest.fixture
def folder(tmp_path, astronaut):
    """Three crops (one of them grey) saved as PNG, plus a file that is not an image."""
    d = tmp_path / "hr"
    d.mkdir()
    Image.fromarray(astronaut[20:70, 200:262]).save(d / "a_face.png")
    Image.fromarray(astronaut[300:349, 100:157]).save(d / "b_suit.PNG")
    Image.fromarray(astronaut[100:148, 300:348]).convert("L").save(d / "c_grey.png")
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture
def model_files(tmp_path):
    """A spec file and two checkpoints of one freshly initialised model: bare and wrapped."""
    torch.manual_seed(0)
    model = backbones.build_model(SPEC)
    spec_path = tmp_path / "ms3.json"
    spec_path.write_text(SPEC.to_json())
    bare, wrapped = tmp_path / "bare.pt", tmp_path / "wrapped.pt"
    torch.save(model.state_dict(), bare)
    torch.save({"model": model.state_dict(), "iteration": 7, "spec": SPEC.to_dict()}, wrapped)
    return spec_path, bare, wrapped


def test_list_images_sorted_case_insensitive(folder):
    assert [p.name for p in list_images(folder)] == ["a_face.png", "b_suit.PNG", "c_grey.png"]


def test_load_image_keeps_grey_grey(folder):
    assert load_image(folder / "c_grey.png").shape == (48, 48)
    assert load_image(folder / "a_face.png").shape == (50, 62, 3)


def test_load_image_converts_palette_and_alpha(tmp_path, astronaut):
    crop = Image.fromarray(astronaut[:32, :32])
    crop.convert("P").save(tmp_path / "p.png")
    crop.convert("RGBA").save(tmp_path / "rgba.png")
    for name in ("p.png", "rgba.png"):
        img = load_image(tmp_path / name)
        assert img.dtype == np.uint8 and img.shape == (32, 32, 3)


@pytest.mark.parametrize("content", [b"", b"garbage, not a PNG", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"])
def test_load_image_bad_file_names_it(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=r"broken\.png") as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_load_image_missing_and_truncated(tmp_path, astronaut):
    with pytest.raises(ImageError, match=r"nothing\.png"):
        load_image(tmp_path / "nothing.png")
    good = tmp_path / "good.png"
    Image.fromarray(astronaut).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ImageError, match=r"cut\.png"):
        load_image(cut)


def test_to_float_range():
    out = to_float(np.array([[0, 128, 255]], dtype=np.uint8))
    np.testing.assert_allclose(out, [[0, 128 / 255, 1]])
    with pytest.raises(ValueError, match="uint8"):
        to_float(np.zeros((2, 2)))


def test_list_images_missing_or_empty_folder(tmp_path):
    with pytest.raises(ImageError, match="nope"):
        list_images(tmp_path / "nope")
    with pytest.raises(ImageError, match="no images"):
        list_images(tmp_path)


def test_bicubic_json(capsys, folder):
    code, out, err = run_cli(capsys, "--data", str(folder), "--scale", "2", "--bicubic", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) == {"psnr", "ssim", "n_images", "per_image", "data", "scale", "mode"}
    assert (data["n_images"], data["data"], data["scale"], data["mode"]) == (3, str(folder), 2, "bicubic")
    assert [r["name"] for r in data["per_image"]] == ["a_face.png", "b_suit.PNG", "c_grey.png"]
    for r in data["per_image"]:
        assert 20 < r["psnr"] < 50 and 0.5 < r["ssim"] <= 1
    assert data["psnr"] == pytest.approx(np.mean([r["psnr"] for r in data["per_image"]]))
    assert data == {**evaluate_folder(folder, 2).as_dict(), "data": str(folder), "scale": 2, "mode": "bicubic"}


def test_text_output_and_progress(capsys, folder):
    code, out, err = run_cli(capsys, "--data", str(folder), "--scale", "3", "--bicubic")
    assert code == 0
    assert "mean" in out and "c_grey.png" in out
    assert err.strip().splitlines()[-1].startswith("[3/3] c_grey.png")


def test_evaluate_images_equals_evaluate_folder(folder):
    images = [(p.name, load_image(p)) for p in list_images(folder)]
    assert evaluate_images(images, 4) == evaluate_folder(folder, 4)


def test_an_image_is_degraded_once_by_content_and_read_only(astronaut):
    hr, lr = degraded("a", astronaut, 4)
    again = degraded("another name", astronaut.copy(), 4)  # equal pixels: the same arrays
    assert again[0] is hr and again[1] is lr and not hr.flags.writeable and not lr.flags.writeable
    assert np.array_equal(hr, modcrop(to_float(astronaut), 4)) and lr.shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3)
    assert degraded("a", astronaut, 2)[1].shape == (hr.shape[0] // 2, hr.shape[1] // 2, 3)  # the scale is in the key
    changed = astronaut.copy()
    changed[0, 0, 0] ^= 1
    assert degraded("a", changed, 4)[0] is not hr


def test_a_perfect_upscaler_scores_infinity(folder):
    """An upscaler that returns the HR image itself: PSNR inf (null in JSON), SSIM 1."""
    hrs = [modcrop(to_float(load_image(p)), 2) for p in list_images(folder)]
    by_size = {hr.shape[:2]: hr for hr in hrs}  # the crops all differ in size
    result = evaluate_folder(folder, 2, lambda lr: by_size[(2 * lr.shape[0], 2 * lr.shape[1])])
    assert isinstance(result, EvalResult)
    assert result.psnr == math.inf and result.ssim == pytest.approx(1.0)
    assert result.as_dict()["psnr"] is None


def test_a_wrong_sized_upscaler_names_the_image(folder):
    with pytest.raises(ImageError, match=r"a_face\.png"):
        evaluate_folder(folder, 2, lambda lr: lr)


@pytest.mark.parametrize("which", [1, 2])
def test_model_mode_gives_finite_numbers(capsys, folder, model_files, which):
    spec_path, weights = model_files[0], model_files[which]
    code, out, err = run_cli(
        capsys, "--data", str(folder), "--scale", "4", "--arch", str(spec_path), "--weights", str(weights), "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["mode"] == "model" and data["n_images"] == 3
    assert math.isfinite(data["psnr"]) and 0 < data["ssim"] <= 1
    assert all(math.isfinite(r["psnr"]) for r in data["per_image"])


def test_model_upscaler_handles_grey_and_restores_mode():
    model = backbones.build_model(SPEC)
    model.train()
    upscale = model_upscaler(model, "cpu")
    grey = upscale(np.full((8, 6), 0.5))
    colour = upscale(np.full((8, 6, 3), 0.5))
    assert grey.shape == (32, 24) and colour.shape == (32, 24, 3)
    assert grey.dtype == np.float64 and np.isfinite(grey).all()
    # grey in, three equal channels out: the grey value is their Y-weighted mean
    np.testing.assert_allclose(grey, colour @ np.array([0.299, 0.587, 0.114]), atol=1e-6)
    assert model.training


def test_grey_output_of_equal_channels_is_exact(folder):
    """An upscaler that is bicubic on each channel gives the grey image the same score as bicubic."""

    class Bicubic(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            from nas.sr.imresize import imresize_torch

            return imresize_torch(x, 2)

    ours = evaluate_folder(folder, 2, model_upscaler(Bicubic(), "cpu"))
    baseline = evaluate_folder(folder, 2)
    for a, b in zip(ours.per_image, baseline.per_image, strict=True):
        assert a.psnr == pytest.approx(b.psnr, abs=1e-9) and a.ssim == pytest.approx(b.ssim, abs=1e-12)


def bad_folder_cases(tmp_path, astronaut):
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    Image.fromarray(astronaut[:40, :40]).save(corrupt / "fine.png")
    (corrupt / "broken.png").write_bytes(b"not a png at all")
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.fromarray(astronaut[:3, :3]).save(tiny / "small.png")
    return {
        "missing": (tmp_path / "missing", "missing"),
        "empty": (empty, "no images"),
        "corrupt": (corrupt, "broken.png"),
        "tiny": (tiny, "small.png"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt", "tiny"])
def test_bad_folders(capsys, tmp_path, astronaut, case):
    folder, needle = bad_folder_cases(tmp_path, astronaut)[case]
    code, _, err = run_cli(capsys, "--data", str(folder), "--scale", "4", "--bicubic")
    assert_one_line_error(code, err, needle)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--scale", "5", "--bicubic"], "--scale"),
        (["--scale", "two", "--bicubic"], "--scale"),
        (["--scale", "2"], "--bicubic"),
        (["--scale", "2", "--bicubic", "--arch", "x.json"], "not allowed"),
        (["--scale", "2", "--bicubic", "--weights", "w.pt"], "--weights"),
        (["--scale", "2", "--bicubic", "--bicubic-gain"], "--bicubic-gain needs --arch"),
    ],
)
def test_bad_command_lines(capsys, folder, argv, needle):
    code, _, err = run_cli(capsys, "--data", str(folder), *argv)
    assert_one_line_error(code, err, needle)


def test_bad_model_inputs(capsys, tmp_path, folder, model_files):
    spec_path, bare, _ = model_files
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00 this is not a checkpoint")
    other = tmp_path / "other.pt"
    torch.save(backbones.build_model(preset("standard", blocks=1)).state_dict(), other)
    not_a_state = tmp_path / "list.pt"
    torch.save([1, 2, 3], not_a_state)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{ not json")
    x2_spec = tmp_path / "x2.json"
    x2_spec.write_text(preset("ms3", upscale=2, blocks=1).to_json())
    cases = [
        (["--arch", str(tmp_path / "nope.json"), "--weights", str(bare)], "nope.json"),
        (["--arch", str(spec_path), "--weights", str(tmp_path / "nope.pt")], "nope.pt"),
        (["--arch", str(spec_path), "--weights", str(garbage)], "garbage.pt"),
        (["--arch", str(spec_path), "--weights", str(other)], "do not fit"),
        (["--arch", str(spec_path), "--weights", str(not_a_state)], "not a state_dict"),
        (["--arch", str(bad_json), "--weights", str(bare)], "not valid JSON"),
        (["--arch", str(x2_spec), "--weights", str(bare)], "x2"),
        (["--arch", str(spec_path)], "--weights"),
    ]
    for argv, needle in cases:
        code, _, err = run_cli(capsys, "--data", str(folder), "--scale", "4", *argv)
        assert_one_line_error(code, err, needle)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here, so --device cuda is not an error")
def test_cuda_without_a_device(capsys, folder, model_files):
    spec_path, bare, _ = model_files
    argv = ["--data", str(folder), "--scale", "4", "--arch", str(spec_path), "--weights", str(bare)]
    code, _, err = run_cli(capsys, *argv, "--device", "cuda")
    assert_one_line_error(code, err, "cuda")


# ---- several image sets, and the gain over bicubic ----


def independent_bicubic_psnr(path, scale: int) -> float:
    """Y PSNR of bicubic on one image, computed here from the definitions (modcrop, MATLAB bicubic down and up,
    8-bit SR, rgb2ycbcr Y rounded, border = scale), not through nas.sr.evaluation."""
    from nas.sr.imresize import imresize_np

    hr = modcrop(to_float(load_image(path)), scale)
    sr = np.round(np.clip(imresize_np(imresize_np(hr, 1 / scale), scale), 0, 1) * 255) / 255

    def y(img):
        return np.round(img * 255 if img.ndim == 2 else 16 + img @ np.array([65.481, 128.553, 24.966]))

    diff = (y(hr) - y(sr))[scale:-scale, scale:-scale]
    return 10 * math.log10(255**2 / np.mean(diff**2))


def gain_argv(folder, model_files, *extra: str) -> list[str]:
    spec_path, weights, _ = model_files
    return ["--data", str(folder), "--scale", "4", "--arch", str(spec_path), "--weights", str(weights), *extra]


def test_bicubic_gain_json_scores_model_and_bicubic_on_the_same_images(capsys, folder, model_files):
    code, out, err = run_cli(capsys, *gain_argv(folder, model_files, "--bicubic-gain", "--json"))
    assert code == 0 and err == ""
    data = json.loads(out)
    alone = json.loads(run_cli(capsys, *gain_argv(folder, model_files, "--json"))[1])
    assert {k: data[k] for k in ("psnr", "ssim", "n_images")} == {k: alone[k] for k in ("psnr", "ssim", "n_images")}
    for row in data["per_image"]:
        bicubic = independent_bicubic_psnr(folder / row["name"], 4)
        assert row["bicubic_psnr"] == pytest.approx(bicubic, abs=1e-9)
        assert row["gain"] == pytest.approx(row["psnr"] - bicubic, abs=1e-9)
    assert data["bicubic"]["psnr"] == pytest.approx(np.mean([r["bicubic_psnr"] for r in data["per_image"]]))
    assert data["gain"] == pytest.approx(data["psnr"] - data["bicubic"]["psnr"])
    assert data["bicubic"] == evaluate_folder(folder, 4).as_dict()


def test_bicubic_gain_text_over_several_sets(capsys, tmp_path, folder, model_files, astronaut):
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(astronaut[200:260, 200:252]).save(other / "z.png")
    code, out, _ = run_cli(capsys, *gain_argv(folder, model_files, "--data", str(other), "--bicubic-gain"))
    assert code == 0
    tables = out.strip().split("\n\n")
    assert len(tables) == 3 and tables[0].startswith(f"{folder} x4, model against bicubic: 3 images")
    assert tables[1].splitlines()[2].split()[0] == "z.png"
    summary = tables[2].splitlines()
    assert summary[1].split() == ["set", "images", "model", "bicubic", "gain"]
    for line, data, n in zip(summary[2:], (folder, other), (3, 1), strict=True):
        name, images, model, bicubic, gain = line.split()
        expected = evaluate_folder(data, 4)
        assert (name, int(images), float(bicubic)) == (str(data), n, round(expected.psnr, 2))
        assert float(gain) == pytest.approx(float(model) - float(bicubic), abs=0.011)
    mean = tables[0].splitlines()[-1].split()
    assert mean[0] == "mean" and float(mean[3]) == round(evaluate_folder(folder, 4).psnr, 2)


def test_every_data_folder_is_scored_and_none_twice(capsys, tmp_path, folder, astronaut):
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(astronaut[:40, :40]).save(other / "corner.png")
    code, out, _ = run_cli(capsys, "--data", str(folder), "--data", str(other), "--scale", "2", "--bicubic", "--json")
    assert code == 0
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [(r["data"], r["n_images"]) for r in records] == [(str(folder), 3), (str(other), 1)]
    code, _, err = run_cli(capsys, "--data", str(folder), "--data", str(folder), "--scale", "2", "--bicubic")
    assert_one_line_error(code, err, f"--data: {folder} given more than once")
