"""``python -m nas.export``: one trial of a search study as a folder to train, load and deploy.

Pick exactly one trial:

- ``--trial N``: that trial; it must be COMPLETE.
- ``--preset NAME``: the COMPLETE trial of a named variant (the lowest-numbered one, which the
  search trained; later repeats of the same spec only copy its result).
- ``--knee``: the knee of the Pareto front on PSNR vs MACs (see ``knee``).
- ``--max-macs G``: the best proxy PSNR among COMPLETE trials with at most G * 1e9 MACs.

The front is the COMPLETE trials that no other COMPLETE trial dominates on (PSNR max, MACs min,
params min); PRUNED (over budget) and FAILED trials are never candidates.

``--out DIR`` receives ``spec.json`` (the canonical spec), ``provenance.json`` (where it came from),
``model.ts`` (TorchScript), ``model.onnx`` and ``README.txt``.  The models are a fresh, *untrained*
``build_model(spec)``: the search trained only a short proxy, often at a reduced size, so the
weights are not kept; train the spec fully with ``nas.train``.  Both model files are checked
against the eager model before anything is written to DIR.

Examples::

    python -m nas.export --study ms3 --knee --out export/ms3-knee
    python -m nas.export --study tiny --storage sqlite:///runs/tiny.db --preset ms3 --out export/tiny-ms3
    python -m nas.export --study ms3 --max-macs 20 --out export/ms3-20g
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from torch import nn

from backbones import build_model
from nas.cli import Parser, UsageError, run_cli
from nas.records import open_existing_study
from nas.search import DEFAULT_STORAGE, library_versions
from space import ArchSpec, SpecError, analytic_cost, load_spec
from studies import OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]
# An odd side: a multi-scale model pads such an input, so tracing records the pad-and-crop path
# with the pad computed from the input size (a side the coarsest branch divides records no pad).
TRACE_SHAPE = (1, 3, 33, 33)
CHECK_SHAPES = (TRACE_SHAPE, (2, 3, 16, 24))  # padded, batch 1; unpadded, batch 2, not square
ONNX_OPSET = 17
TORCHSCRIPT_TOLERANCE, ONNX_TOLERANCE = 1e-5, 1e-4
INIT_SEED = 0
FILES = ("spec.json", "provenance.json", "model.ts", "model.onnx", "README.txt")
DYNAMIC_AXES = {"lr": {0: "batch", 2: "height", 3: "width"}, "sr": {0: "batch", 2: "sr_height", 3: "sr_width"}}
# What torch 2.13 says on every trace and legacy ONNX export; the outputs are checked against eager instead.
TORCH_NOTICES = (
    r"`torch\.jit\.(trace|trace_method|save|load)` is deprecated",
    r"You are using the legacy TorchScript-based ONNX export",
    r"The feature will be removed",
)


class ExportError(Exception):
    """An export that cannot be made or fails its check: one line, exit code 2."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: the study, one selector and the output folder."""
    p = Parser(prog="python -m nas.export", description="Export one trial: spec, provenance, TorchScript, ONNX.")
    p.add_argument("--study", required=True, help="the study's name in the storage")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    pick = p.add_mutually_exclusive_group(required=True)
    pick.add_argument("--trial", type=int, metavar="N", help="this trial (must be COMPLETE)")
    pick.add_argument("--preset", metavar="NAME", help="the trial of this named variant")
    pick.add_argument("--knee", action="store_true", help="the knee of the PSNR-vs-MACs Pareto front")
    pick.add_argument("--max-macs", type=float, metavar="G", help="the best PSNR with at most G * 1e9 MACs")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; its five files replaced)")
    return p.parse_args(argv)


# --- the study ---------------------------------------------------------------------------------


def complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The COMPLETE trials: the only candidates for export."""
    return [t for t in trials if t.state == TrialState.COMPLETE]


def psnr_of(t: FrozenTrial) -> float:
    """The trial's proxy PSNR (its first value)."""
    assert t.values is not None
    return float(t.values[0])


def macs_of(t: FrozenTrial) -> float:
    """The trial's MACs (its second value)."""
    assert t.values is not None
    return float(t.values[1])


def _why(t: FrozenTrial) -> str:
    reason = t.user_attrs.get("rejected") or t.system_attrs.get("fail_reason") or "no reason recorded"
    return str(reason).strip().splitlines()[0]


# --- selection ---------------------------------------------------------------------------------


def by_number(trials: Sequence[FrozenTrial], number: int) -> FrozenTrial:
    """Trial ``number``, which must exist and be COMPLETE."""
    found = next((t for t in trials if t.number == number), None)
    if found is None:
        known = f"trials 0 to {len(trials) - 1}" if trials else "no trials"
        raise UsageError(f"--trial: no trial {number} (the study has {known})")
    if found.state != TrialState.COMPLETE:
        raise UsageError(f"--trial: trial {number} is {found.state.name}, not COMPLETE ({_why(found)})")
    return found


def by_preset(trials: Sequence[FrozenTrial], name: str) -> FrozenTrial:
    """The lowest-numbered COMPLETE trial whose user attr ``preset`` is ``name``."""
    done = complete(trials)
    matches = [t for t in done if t.user_attrs.get("preset") == name]
    if not matches:
        known = ", ".join(sorted({str(t.user_attrs["preset"]) for t in done if "preset" in t.user_attrs})) or "none"
        raise UsageError(f"--preset: no COMPLETE trial of {name!r} (COMPLETE presets: {known})")
    return min(matches, key=lambda t: t.number)


def by_max_macs(trials: Sequence[FrozenTrial], gmacs: float) -> FrozenTrial:
    """The best-PSNR COMPLETE trial with at most ``gmacs`` * 1e9 MACs (ties: fewer MACs, then lower number)."""
    done = complete(trials)
    under = [t for t in done if macs_of(t) <= gmacs * 1e9]
    if not under:
        fewest = f"the fewest is {min(map(macs_of, done)) / 1e9:.4g} G" if done else "no trial is COMPLETE"
        raise UsageError(f"--max-macs: no COMPLETE trial has at most {gmacs:g} G MACs ({fewest})")
    return min(under, key=lambda t: (-psnr_of(t), macs_of(t), t.number))


def _objectives(t: FrozenTrial) -> tuple[float, float, float]:
    """(PSNR, MACs, params) as three quantities to minimise."""
    assert t.values is not None
    psnr, macs, params = t.values[:3]
    return -psnr, macs, params


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a != b and all(x <= y for x, y in zip(a, b, strict=True))


def pareto_front(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """COMPLETE trials that no other COMPLETE trial dominates on (PSNR max, MACs min, params min)."""
    done = complete(trials)
    costs = [_objectives(t) for t in done]
    return [t for t, c in zip(done, costs, strict=True) if not any(_dominates(o, c) for o in costs)]


def _normalised(values: list[float]) -> list[float]:
    lo, span = min(values), max(values) - min(values)
    return [(v - lo) / span if span > 0 else 0.0 for v in values]


def knee(front: Sequence[FrozenTrial]) -> FrozenTrial:
    """The front's knee on PSNR vs MACs.

    MACs (x) and PSNR (y) are each scaled to [0, 1] over the front.  The extremes are the cheapest
    point (fewest MACs) and the best (highest PSNR); the knee is the point farthest from the line
    joining them on the side of few MACs and high PSNR (signed distance, so a point that only wins
    on params and lies below the line never counts as far).  Ties, as in a front of one or two
    points, go to fewer MACs, then higher PSNR, then the lower trial number.
    """
    if not front:
        raise UsageError("--knee: the study has no COMPLETE trial, so its Pareto front is empty")
    xs, ys = _normalised([macs_of(t) for t in front]), _normalised([psnr_of(t) for t in front])
    order = range(len(front))
    cheap = min(order, key=lambda i: (xs[i], -ys[i], front[i].number))
    best = min(order, key=lambda i: (-ys[i], xs[i], front[i].number))
    dx, dy = xs[best] - xs[cheap], ys[best] - ys[cheap]

    def rank(i: int) -> tuple[float, float, float, int]:
        above = dx * (ys[i] - ys[cheap]) - dy * (xs[i] - xs[cheap])  # distance to the line times its length
        return -above, xs[i], -ys[i], front[i].number

    return front[min(order, key=rank)]


def by_knee(trials: Sequence[FrozenTrial], _flag: object) -> FrozenTrial:
    """The knee of the study's Pareto front."""
    return knee(pareto_front(trials))


SELECTORS: dict[str, Callable[[Sequence[FrozenTrial], Any], FrozenTrial]] = {
    "trial": by_number,
    "preset": by_preset,
    "knee": by_knee,
    "max_macs": by_max_macs,
}


def selection_of(args: argparse.Namespace) -> tuple[str, Any]:
    """Which selector the command line names, and its argument."""
    given = [(mode, getattr(args, mode)) for mode in SELECTORS]
    return next((mode, value) for mode, value in given if value is not None and value is not False)


def select(trials: Sequence[FrozenTrial], mode: str, argument: Any) -> FrozenTrial:
    """The trial that selector ``mode`` picks with ``argument``; UsageError when there is none."""
    return SELECTORS[mode](trials, argument)


# --- the spec ----------------------------------------------------------------------------------


def trial_spec(trial: FrozenTrial) -> ArchSpec:
    """The trial's spec, checked to cost what the search recorded (so the export is the searched network)."""
    if "spec" not in trial.user_attrs:
        raise ExportError(f"trial {trial.number} has no 'spec' user attr (not made by nas.search?)")
    try:
        spec = load_spec(str(trial.user_attrs["spec"]))
    except SpecError as err:
        raise ExportError(f"trial {trial.number}: its spec no longer loads ({err})") from None
    cost = analytic_cost(spec)
    for key, now in (("macs", cost.macs), ("params", cost.params)):
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


@contextlib.contextmanager
def quiet_torch() -> Iterator[None]:
    """Silence the deprecation notices and tracer warnings torch gives on every export (outputs are checked)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        for pattern in TORCH_NOTICES:
            warnings.filterwarnings("ignore", message=pattern, category=DeprecationWarning)
        yield


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
    if importlib.util.find_spec("onnx") is None:
        raise ExportError("model.onnx needs the onnx package (pip install onnx)")
    from onnx.reference import ReferenceEvaluator

    with torch.no_grad(), quiet_torch():
        torch.onnx.export(
            model,
            (torch.rand(TRACE_SHAPE),),
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["lr"],
            output_names=["sr"],
            dynamic_axes=DYNAMIC_AXES,
        )
    session = ReferenceEvaluator(str(path))
    return reference.check(
        "model.onnx", lambda x: np.asarray(cast(list[Any], session.run(None, {"lr": x.numpy()}))[0]), ONNX_TOLERANCE
    )


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


def public_url(url: str) -> str:
    """The storage URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def export_versions() -> dict[str, str]:
    """The library versions the export ran with."""
    import onnx

    return {**library_versions(), "onnx": onnx.__version__}


def value_names(study: optuna.Study, count: int) -> list[str]:
    """Names for a trial's ``count`` values: the study's metric names, else psnr, macs, params."""
    names = study.metric_names or list(OBJECTIVES)
    return [*names, *(f"objective_{i}" for i in range(len(names), count))][:count]


def provenance(
    study: optuna.Study, trial: FrozenTrial, url: str, selection: dict[str, Any], spec: ArchSpec, checks: Checks
) -> dict[str, Any]:
    """Where the exported network came from and what the export checked."""
    attrs = {k: v for k, v in trial.user_attrs.items() if k != "spec"}
    values = list(trial.values or [])
    return {
        "study": study.study_name,
        "storage": public_url(url),
        "trial": trial.number,
        "selected_by": selection,
        "values": dict(zip(value_names(study, len(values)), values, strict=True)),
        "spec_hash": spec.spec_hash,
        "user_attrs": attrs,
        "proxy_budget": attrs.get("proxy"),
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
            "checked_with": "onnx.reference.ReferenceEvaluator",
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


def values_text(values: Sequence[float]) -> str:
    """PSNR, MACs and params in the units people read."""
    psnr, macs, params = values[:3]
    return f"proxy PSNR {psnr:.3f} dB, {macs / 1e9:.3f} G MACs (128x128 LR), {params / 1e6:.4f} M params"


def readme(spec: ArchSpec, trial: FrozenTrial, info: dict[str, Any], out: Path) -> str:
    """How to train the exported spec fully and how to load the exported models."""
    run_dir = f"runs/{spec.spec_hash}"
    shapes = ", ".join("x".join(map(str, s)) for s in CHECK_SHAPES)
    picked = (
        f"Trial {trial.number} of study {info['study']} ({info['storage']}), selected by {info['selected_by']['mode']}"
    )
    shape = f"{spec.backbone} x{spec.upscale}, width {spec.width}, {spec.blocks} block(s), {spec.scales} scale(s)"
    return f"""{picked}:
{values_text(trial.values or [])}.
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
onnx.reference.ReferenceEvaluator at the same shapes.  Export again after training to ship weights.
"""


# --- writing -----------------------------------------------------------------------------------


def staging_dir(out: Path) -> Path:
    """A fresh folder inside ``out`` (same file system, so files move in atomically)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    except OSError as err:
        raise UsageError(f"--out: cannot write to {out} ({err.strerror or err})") from None


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


def run(args: argparse.Namespace) -> str:
    """Open the study, pick the trial, export it; the summary to print."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_existing_study(args.storage, args.study)
    mode, argument = selection_of(args)
    trials = study.get_trials(deepcopy=False)
    trial = select(trials, mode, argument)
    out = Path(args.out)
    selection: dict[str, Any] = {"mode": mode, "argument": argument}
    if mode == "knee":
        selection["front"] = sorted(t.number for t in pareto_front(trials))
    return summary(export_trial(study, trial, args.storage, selection, out), out)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: 0 on success; 2 and one line on stderr for any bad input or failed check."""
    return run_cli("nas.export", lambda: run(parse_args(argv)), (ExportError,))


if __name__ == "__main__":
    sys.exit(main())
