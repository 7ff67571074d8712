"""Feature-map memory: counted exactly against the built model, and a network that cannot fit is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from backbones import build_model
from nas.errors import InputError
from nas.evaluate import within_memory
from nas.train import main as train_main
from space import preset
from space.cost import activation_bytes, feature_elements


@pytest.mark.parametrize(("name", "backbone"), [("standard", "srresnet"), ("ms3", "srresnet"), ("octconv", "srresnet"),
                                                ("ms3", "carn")])  # fmt: skip
def test_the_count_equals_what_the_models_convs_write(name: str, backbone: str):
    spec = preset(name, backbone, 2, 1, 16)
    model = build_model(spec).eval()
    written: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: written.append(out.numel()))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]  # fmt: skip
    with torch.no_grad():
        model(torch.rand(1, 3, 16, 24))
    for h in hooks:
        h.remove()
    total, largest = feature_elements(spec, (16, 24))
    assert total == sum(written)
    assert activation_bytes(spec, (16, 24), batch=4, training=True) == 4 * 4 * 2 * total
    assert activation_bytes(spec, (16, 24)) == 4 * 3 * largest


def test_training_that_cannot_fit_is_refused_before_anything_is_made(tmp_path: Path, capsys):
    arch = tmp_path / "wide.json"
    arch.write_text(preset("standard", "srresnet", 4, 16, 4096).to_json())
    argv = ["--arch", str(arch), "--out", str(tmp_path / "run"), "--hr-patch", "512", "--batch", "64"]
    assert train_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas.train: error: --batch/--hr-patch: a training step at batch 64 on 128x128 LR inputs")
    assert "GiB of feature maps at width 4096; the cpu has" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_an_image_too_large_for_inference_is_refused_by_name_of_its_size():
    spec = preset("standard", "srresnet", 4, 16, 4096)
    called: list[tuple[int, ...]] = []

    def identity(lr: np.ndarray) -> np.ndarray:
        called.append(lr.shape)
        return lr

    upscale = within_memory(spec, identity, "cpu")
    small = np.zeros((8, 8, 3), dtype=np.uint8)
    assert upscale(small) is small and called == [(8, 8, 3)]
    with pytest.raises(InputError, match=r"--data: inference on 4096x4095 LR inputs needs about \d+\.\d GiB"):
        upscale(np.zeros((4096, 4095, 3), dtype=np.uint8))
