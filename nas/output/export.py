"""One trial of a search study as a folder to train, load and deploy (``python -m nas.export``).

``out`` receives ``spec.json`` (the canonical spec), ``provenance.json`` (where it came from),
``model.ts`` (TorchScript), ``model.onnx`` and ``README.txt``.  The models are a fresh, *untrained*
``build_model(spec)``: the search trained only a short proxy, often at a reduced size, so the
weights are not kept; train the spec fully with ``nas.train``.  Both model files are checked
against the eager model before anything is written to ``out``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial
from torch import nn

from backbones import build_model
from nas.errors import InputError, MsnasError
from nas.files import not_root
from nas.measure.deploy import (
    DYNAMIC_AXES,
    ONNX_OPSET,
    RuntimeMissing,
    export_onnx,
    onnx_session,
    quiet_torch,
    run_session,
)
from nas.processes import remove_stale_staging
from nas.study import keys
from nas.study.objectives import objectives_of
from nas.study.urls import public_url
from nas.study.versions import library_versions
from space import ArchSpec, SpecError, analytic_cost, load_spec
from studies import LATENCY, MACS, PARAMS, PSNR

ROOT = Path(__file__).resolve().parents[2]
# An odd side: a multi-scale model pads such an input, so tracing records the pad-and-crop path
# with the pad computed from the input size (a side the coarsest branch divides records no pad).
TRACE_SHAPE = (1, 3, 33, 33)
CHECK_SHAPES = (TRACE_SHAPE, (2, 3, 16, 24))  # padded, batch 1; unpadded, batch 2, not square
TORCHSCRIPT_TOLERANCE, ONNX_TOLERANCE = 1e-5, 1e-4
INIT_SEED = 0
FILES = ("spec.json", "provenance.json", "model.ts", "model.onnx", "README.txt")
STAGING = ".export."  # the prefix of the staging folder inside --out


class ExportError(MsnasError):
    """An export that cannot be made or fails its check: one line, exit code 2."""


# --- the spec ----------------------------------------------------------------------------------


def trial_spec(trial: FrozenTrial) -> ArchSpec:
    """The trial's spec, checked to cost what the search recorded (so the export is the searched network)."""
    if keys.SPEC not in trial.user_attrs:
        raise ExportError(f"trial {trial.number} has no 'spec' user attr (not made by nas.search?)")
    try:
        spec = load_spec(str(trial.user_attrs[keys.SPEC]))
    except SpecError as err:
        raise ExportError(f"trial {trial.number}: its spec no longer loads ({err})") from None
    cost = analytic_cost(spec)
    for key, now in ((keys.MACS_KEY, cost.macs), (keys.PARAMS_KEY, cost.params)):
        recorded = trial.user_attrs.get(key)
        if recorded is not None and int(recorded) != now:
            raise ExportError(
                f"trial {trial.number}: the spec now has {now} {key}, the search recorded {recorded} "
                "(the space code changed since the search?)"
            )
    return spec


# --- the models --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checks:
    """Largest |exported - eager| over ``CHECK_SHAPES`` for each model file, and the largest |eager| output."""

    torchscript: float
    onnx: float
    scale: float


@dataclass(frozen=True)
class Reference:
    """Fixed random LR batches of ``CHECK_SHAPES`` in [0, 1] and the eager model's outputs for them."""

    inputs: list[torch.Tensor]
    outputs: list[np.ndarray]

    @classmethod
    def of(cls, model: nn.Module) -> Reference:
        gen = torch.Generator().manual_seed(INIT_SEED)
        inputs = [torch.rand(shape, generator=gen) for shape in CHECK_SHAPES]
        with torch.no_grad():
            return cls(inputs, [model(x).numpy() for x in inputs])

    @property
    def scale(self) -> float:
        return max(float(np.abs(y).max()) for y in self.outputs)

    def check(self, what: str, run: Callable[[torch.Tensor], np.ndarray], tolerance: float) -> float:
        """The largest |run(x) - eager(x)|; ExportError past ``tolerance`` x max(1, largest |eager| output)."""
        with torch.no_grad():
            diff = max(float(np.abs(run(x) - y).max()) for x, y in zip(self.inputs, self.outputs, strict=True))
        limit = tolerance * max(1.0, self.scale)  # float32 round-off grows with the (untrained) output's size
        if not diff <= limit:
            raise ExportError(f"{what} differs from the eager model by {diff:.3g} (limit {limit:.3g})")
        return diff


def untrained_model(spec: ArchSpec) -> nn.Module:
    """A fresh network for the spec, initialised from ``INIT_SEED``, in eval mode."""
    torch.manual_seed(INIT_SEED)
    return build_model(spec).eval()


def save_torchscript(model: nn.Module, path: Path, reference: Reference) -> float:
    """Trace ``model`` at ``TRACE_SHAPE``, save it, and return the saved file's largest difference from eager."""
    with torch.no_grad(), quiet_torch():  # check_trace would trace again (slow): the saved file is checked below
        torch.jit.save(torch.jit.trace(model, torch.rand(TRACE_SHAPE), check_trace=False), str(path))
        loaded = torch.jit.load(str(path))
    return reference.check("model.ts", lambda x: loaded(x).numpy(), TORCHSCRIPT_TOLERANCE)


def save_onnx(model: nn.Module, path: Path, reference: Reference) -> float:
    """Export ``model`` to ONNX (batch, height and width dynamic) and return its largest difference from eager."""
    try:
        export_onnx(model, path, torch.rand(TRACE_SHAPE))
        session = onnx_session(path)
    except RuntimeMissing as err:
        raise ExportError(str(err)) from None
    return reference.check("model.onnx", lambda x: np.asarray(run_session(session, x)), ONNX_TOLERANCE)


def save_models(spec: ArchSpec, folder: Path) -> Checks:
    """model.ts and model.onnx of one untrained model, each checked against it."""
    model = untrained_model(spec)
    reference = Reference.of(model)
    try:
        ts = save_torchscript(model, folder / "model.ts", reference)
        return Checks(ts, save_onnx(model, folder / "model.onnx", reference), reference.scale)
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as err:
        raise ExportError(f"exporting the model failed: {str(err).strip().splitlines()[0]}") from None


# --- the text files ----------------------------------------------------------------------------


def git_head() -> str | None:
    """The project's commit, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def export_versions() -> dict[str, str]:
    """The library versions the export ran with."""
    return library_versions("onnx", "onnxruntime")


def provenance(
    study: optuna.Study, trial: FrozenTrial, url: str, selection: dict[str, Any], spec: ArchSpec, checks: Checks
) -> dict[str, Any]:
    """Where the exported network came from and what the export checked."""
    attrs = {k: v for k, v in trial.user_attrs.items() if k != keys.SPEC}
    objectives = objectives_of(study)
    return {
        "study": study.study_name,
        "storage": public_url(url),
        "trial": trial.number,
        "selected_by": selection,
        "values": {o.name: float(v) for o, v in zip(objectives, trial.values or [], strict=True)},
        "spec_hash": spec.spec_hash,
        "user_attrs": attrs,
        "proxy_budget": attrs.get(keys.PROXY),
        "weights": f"untrained: a fresh build_model(spec) after torch.manual_seed({INIT_SEED}); the search "
        "trained only a short proxy (proxy_budget, often at a reduced width/depth), whose weights are not kept",
        "torchscript": {
            "file": "model.ts",
            "traced_at": list(TRACE_SHAPE),
            "sizes": size_rule(spec),
            "max_abs_diff_vs_eager": checks.torchscript,
            "tolerance": f"{TORCHSCRIPT_TOLERANCE:g} x max(1, largest |eager output|)",
            "checked_shapes": [list(s) for s in CHECK_SHAPES],
        },
        "onnx": {
            "file": "model.onnx",
            "exporter": "torch.onnx.export(dynamo=False), the TorchScript-based exporter",
            "opset": ONNX_OPSET,
            "dynamic_axes": DYNAMIC_AXES,
            "max_abs_diff_vs_eager": checks.onnx,
            "tolerance": f"{ONNX_TOLERANCE:g} x max(1, largest |eager output|)",
            "checked_with": "onnxruntime.InferenceSession (CPUExecutionProvider)",
            "checked_shapes": [list(s) for s in CHECK_SHAPES],
        },
        "largest_eager_output": checks.scale,
        "versions": export_versions(),
        "git_commit": git_head(),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def size_rule(spec: ArchSpec) -> str:
    """Which input sizes the traced models take (the eager model takes any)."""
    multiple = 2 ** (spec.scales - 1)
    if multiple == 1:
        return "a single-scale network pads nothing, so any batch and any H, W work"
    return (
        f"traced at a size the network pads, so its pad-and-crop logic was recorded with the pad computed "
        f"from the input: any batch and any H, W >= {multiple} work (the eager model also takes smaller "
        "sides, padding them by replication, which the trace froze to reflection)"
    )


def values_text(values: Mapping[str, float]) -> str:
    """The trial's objectives in the units people read."""
    parts = [f"proxy PSNR {values[PSNR.name]:.3f} dB", f"{values[MACS.name] / 1e9:.3f} G MACs (128x128 LR)",
             f"{values[PARAMS.name] / 1e6:.4f} M params"]  # fmt: skip
    if LATENCY.name in values:
        parts.append(f"{values[LATENCY.name]:.1f} ms CPU latency")
    parts += [
        f"{name} {v:.4g}" for name, v in values.items() if name not in (PSNR.name, MACS.name, PARAMS.name, LATENCY.name)
    ]
    return ", ".join(parts)


def readme(spec: ArchSpec, trial: FrozenTrial, info: dict[str, Any], out: Path) -> str:
    """How to train the exported spec fully and how to load the exported models."""
    run_dir = f"runs/{spec.spec_hash}"
    shapes = ", ".join("x".join(map(str, s)) for s in CHECK_SHAPES)
    picked = (
        f"Trial {trial.number} of study {info['study']} ({info['storage']}), selected by {info['selected_by']['mode']}"
    )
    shape = f"{spec.backbone} x{spec.upscale}, width {spec.width}, {spec.blocks} block(s), {spec.scales} scale(s)"
    return f"""{picked}:
{values_text(info["values"])}.
Spec {spec.spec_hash}: {shape}.

Files
  spec.json        the canonical architecture spec
  provenance.json  study, storage, trial, values, all user attrs, proxy budget, versions, commit, checks
  model.ts         TorchScript (torch.jit.trace), UNTRAINED
  model.onnx       ONNX opset {ONNX_OPSET}, input "lr", output "sr", UNTRAINED

The weights are NOT trained.  The search trained only a short proxy (proxy_budget in
provenance.json), often at a smaller width and depth, and keeps no weights.  Train the spec fully
(the paper's recipe by default: 1M iterations of 128x128 HR patches):

  python -m nas.train --arch {out}/spec.json --data DIV2K/DIV2K_train_HR --out {run_dir} \\
      --bench-data Set5 --bench-data Set14

and load the trained weights into the eager model:

  import torch, space, backbones
  model = backbones.build_model(space.load_spec("{out}/spec.json")).eval()
  model.load_state_dict(torch.load("{run_dir}/model.pt")["model"])

Inputs are N x 3 x H x W RGB float32 in [0, 1]; outputs are N x 3 x {spec.upscale}H x {spec.upscale}W.

TorchScript ({"x".join(map(str, TRACE_SHAPE))} example input; checked against eager at {shapes}):

  import torch
  model = torch.jit.load("{out}/model.ts")  # map_location="cuda" for a GPU
  sr = model(torch.rand(1, 3, 64, 64))
  model.load_state_dict(torch.load("{run_dir}/model.pt")["model"])  # the trained weights, once trained

{textwrap.fill(f"Sizes: {size_rule(spec)}.", 98, initial_indent="  ", subsequent_indent="  ")}

ONNX: batch, height and width are dynamic, with the same size rule; checked against eager with
ONNX Runtime (CPU) at the same shapes.  Export again after training to ship weights.
"""


# --- writing -----------------------------------------------------------------------------------


def check_out(out: Path, overwrite: bool) -> Path:
    """``out``, unless it is a root, a file, or a folder that holds anything (a ``nas.train`` run's spec.json, say:
    replacing it stops that run from resuming) and ``overwrite`` is not given; checked before anything is made."""
    not_root("--out", out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} is a file, not a folder")
    held = held_names(out)
    if held and not overwrite:
        listed = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise InputError(f"--out: {out} is not empty ({listed}): choose another folder, or add --overwrite to "
                         f"replace its {', '.join(FILES)}")  # fmt: skip
    return out


def held_names(out: Path) -> list[str]:
    """What ``out`` holds, but for export staging folders (a killed export's, removed when the export runs)."""
    try:
        return sorted(p.name for p in out.iterdir() if not p.name.startswith(STAGING)) if out.is_dir() else []
    except OSError as err:
        raise InputError(f"--out: cannot read {out} ({err.strerror or err})") from None


def staging_dir(out: Path) -> Path:
    """A fresh folder inside ``out`` (same file system, so files move in atomically)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out, STAGING)  # a killed export's leftovers
        return Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}.", dir=out))
    except OSError as err:
        raise InputError(f"--out: cannot write to {out} ({err.strerror or err})") from None


def export_trial(
    study: optuna.Study, trial: FrozenTrial, url: str, selection: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Write the five files for ``trial`` into ``out``; nothing there changes unless every check passes."""
    spec = trial_spec(trial)
    staging = staging_dir(out)
    try:
        checks = save_models(spec, staging)
        info = provenance(study, trial, url, selection, spec, checks)
        (staging / "spec.json").write_text(spec.to_json() + "\n")
        (staging / "provenance.json").write_text(json.dumps(info, indent=2) + "\n")
        (staging / "README.txt").write_text(readme(spec, trial, info, out))
        for name in FILES:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def summary(info: dict[str, Any], out: Path) -> str:
    """What the command prints on success."""
    ts, onnx = info["torchscript"]["max_abs_diff_vs_eager"], info["onnx"]["max_abs_diff_vs_eager"]
    return (
        f"trial {info['trial']} of {info['study']} ({info['selected_by']['mode']}) -> {out}/: "
        f"{', '.join(FILES)}\n  max |exported - eager|: TorchScript {ts:.3g}, ONNX {onnx:.3g} (untrained weights)"
    )
