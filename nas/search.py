"""``python -m nas.search --study NAME``: multi-objective architecture search recorded in an Optuna storage.

Objectives: proxy PSNR (max), MACs in the paper's convention (min), params (min),
and optionally measured CPU latency (min).  Every trial's cost is known from the
spec before anything is built: a trial over the study's budget is PRUNED, never
COMPLETE, so it appears on no Pareto front (Optuna's, our report's or
optuna-dashboard's).  A spec already evaluated is not trained again.

Examples::

    python -m nas.search --list
    python -m nas.search --study ms3 --n-trials 8          # SQLite file runs/msnas.db by default
    python -m nas.search --study ms3 --storage postgresql://user@host/db   # many workers share one study
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import torch

from nas.cli import Parser, UsageError
from nas.data import Picture, training_pictures, validation_images
from nas.images import ImageError
from nas.proxy import ProxyResult, ValidationSet, train_proxy
from nas.samplers import random_sampler
from nas.sampling import params_for, spec_from_trial
from nas.training import DivergenceError, resolve_device
from space import PRESETS, SpecError, analytic_cost, preset
from space.arch import ArchSpec
from studies import DIRECTIONS, OBJECTIVES, STUDIES, StudyDef
from studies.budget import ProxyBudget

DEFAULT_STORAGE = "sqlite:///runs/msnas.db"
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # metric names, artifacts
HEARTBEAT_SECONDS, GRACE_SECONDS = 20, 60


def parse_args(argv: Sequence[str] | None) -> Any:
    p = Parser(prog="python -m nas.search", description="Multi-objective search over a named study's space.")
    p.add_argument("--study", default=None, help="a study name (see --list)")
    p.add_argument("--list", action="store_true", help="list the studies")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    p.add_argument("--artifacts", default=None, help="artifact folder (default: beside a SQLite file, else runs/)")
    p.add_argument("--n-trials", type=int, default=None, help="trials for this process (default: the study's)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--data", default=None, help="HR training folder (default: bundled photos)")
    p.add_argument("--val-data", default=None, help="HR validation folder (default: bundled photos)")
    p.add_argument("--seed", type=int, default=0, help="data order and init: the same for every trial")
    p.add_argument(
        "--sampler",
        choices=("nsga2", "tpe", "random"),
        default=None,
        help="override the study's sampler; the study is then stored as NAME-SAMPLER. random draws"
        " architectures uniformly (unbiased samples for nas.analyze) and queues no named variants",
    )
    p.add_argument(
        "--halving",
        action="store_true",
        help="successive halving: --n-trials candidates, the best 1/ETA per MAC group go on to longer rungs",
    )
    p.add_argument("--eta", type=int, default=3, help="halving: keep 1/ETA per rung (default 3)")
    p.add_argument("--rungs", type=int, default=1, help="halving: rungs below the full proxy (default 1)")
    args = p.parse_args(argv)
    if args.halving and (args.eta < 2 or args.rungs < 1):
        raise UsageError(f"--eta must be >= 2 and --rungs >= 1 (got {args.eta}, {args.rungs})")
    if args.halving and args.timeout is not None:
        raise UsageError("--timeout: not supported with --halving (the ladder's cost is set by --n-trials)")
    return args


def list_studies() -> str:
    width = max(len(n) for n in STUDIES)
    return "\n".join(f"{name:<{width}}  {s.description}" for name, s in STUDIES.items())


def storage_for(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage with heartbeats (a killed worker's trial is failed when the next run starts).

    Many processes may open one URL at once: they may all find the tables missing and create them
    together, so that first opening is retried.  MSNAS_HEARTBEAT_SECONDS and MSNAS_GRACE_SECONDS
    override the heartbeat interval and the grace period (for tests).
    """
    engine: dict[str, Any] = {}
    sqlite = url.startswith("sqlite:///")
    if sqlite:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = {"connect_args": {"timeout": 60}}
    heartbeat = int(os.environ.get("MSNAS_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))
    grace = int(os.environ.get("MSNAS_GRACE_SECONDS", GRACE_SECONDS))
    for attempt in range(1, 6):
        try:
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=heartbeat, grace_period=grace
            )
            break
        except Exception as err:  # SQLAlchemy raises many kinds for a bad URL or an unreachable server
            racing = isinstance(err, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.ProgrammingError)
            if attempt < 5 and (racing or "already exists" in str(err)):  # another worker creating the tables
                time.sleep(random.uniform(0.1, 0.5) * attempt)
                continue
            msg = f"{err.__class__.__name__}: {str(err).splitlines()[0]}"
            raise UsageError(f"--storage: cannot open {url} ({msg})") from None
    if sqlite:
        serialise_sqlite(storage.engine)
    return storage


def serialise_sqlite(engine: sqlalchemy.engine.Engine) -> None:
    """Make every SQLite transaction take the write lock when it begins (BEGIN IMMEDIATE).

    Optuna hands a queued trial to a worker by reading that it is WAITING and then writing RUNNING,
    guarded by SELECT ... FOR UPDATE, which SQLite ignores: two processes could run the same trial.
    """

    def no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite leaves BEGIN to the hook below

    def begin_immediate(connection: sqlalchemy.engine.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    sqlalchemy.event.listen(engine, "connect", no_implicit_begin)
    sqlalchemy.event.listen(engine, "begin", begin_immediate)
    engine.dispose()  # the connections that opened the storage predate the hooks


def artifact_dir(url: str, override: str | None) -> Path:
    if override:
        return Path(override)
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + ".artifacts")
    return Path("runs/artifacts")


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__, "optuna": optuna.__version__}


def named_points(study: StudyDef) -> dict[str, str]:
    """spec_hash -> preset name for the named paper variants at the study's backbone and size."""
    sp = study.space
    out = {}
    for name in PRESETS:
        try:
            out[preset(name, sp.backbone, sp.upscale, sp.depth, sp.width).spec_hash] = name
        except SpecError:
            continue
    return out


def enqueue_named(study: optuna.Study, definition: StudyDef) -> list[str]:
    """Queue the named variants that lie in the space, so they are always points of the study."""
    names = named_points(definition)
    queued = []
    for choice, spec in definition.space.uniform_points():
        name = names.get(spec.spec_hash)
        if name is not None and name not in queued:
            study.enqueue_trial(params_for(definition.space, choice), user_attrs={"preset": name})
            queued.append(name)
    return queued


def stored_name(definition: StudyDef, sampler: str | None = None) -> str:
    """The study's name in the storage: NAME, or NAME-SAMPLER when the sampler is overridden."""
    return definition.name if sampler in (None, definition.sampler) else f"{definition.name}-{sampler}"


def open_study(
    definition: StudyDef, storage: optuna.storages.BaseStorage, seed: int, sampler_name: str | None = None
) -> tuple[optuna.Study, bool]:
    """Create the study (queueing the named variants) or load it: the same command again resumes.

    A random study queues nothing: its trials must be an unbiased sample of the space.
    """
    chosen = sampler_name or definition.sampler
    sampler = make_sampler(definition, seed, chosen)
    name = stored_name(definition, sampler_name)
    try:
        study = optuna.create_study(
            study_name=name, storage=storage, directions=directions(definition), sampler=sampler
        )
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler), False
    study.set_metric_names(metric_names(definition))
    study.set_user_attr("study_definition", definition.description)
    study.set_user_attr("definition", definition.name)
    study.set_user_attr("sampler", chosen)
    if chosen != "random":
        enqueue_named(study, definition)
    return study, True


def definition_of(study: optuna.Study) -> StudyDef | None:
    """The definition a stored study was run from (None for a study this version does not know)."""
    name = study.user_attrs.get("definition", study.study_name)
    return STUDIES.get(name)


def metric_names(definition: StudyDef) -> list[str]:
    return [*OBJECTIVES, "latency_ms"] if definition.latency else list(OBJECTIVES)


def directions(definition: StudyDef) -> list[optuna.study.StudyDirection]:
    names = [*DIRECTIONS, "minimize"] if definition.latency else list(DIRECTIONS)
    return [
        optuna.study.StudyDirection.MAXIMIZE if n == "maximize" else optuna.study.StudyDirection.MINIMIZE for n in names
    ]


def make_sampler(definition: StudyDef, seed: int, name: str | None = None) -> optuna.samplers.BaseSampler:
    name = name or definition.sampler
    if name == "random":
        return random_sampler(definition.space, seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=min(20, max(4, definition.n_trials // 2)))


@dataclass
class Searcher:
    """One worker's view of a study: the data, budget and device every trial uses."""

    definition: StudyDef
    train: tuple[Picture, ...]
    val: ValidationSet
    device: torch.device
    seed: int
    artifacts: optuna.artifacts.FileSystemArtifactStore
    names: dict[str, str]

    def objective(self, trial: optuna.Trial) -> tuple[float, ...]:
        """Cost first, then (unless over budget or already evaluated) the proxy; failures keep their reason."""
        try:
            return self._objective(trial)
        except optuna.TrialPruned:
            raise
        except Exception as err:
            trial.set_user_attr("fail_reason", f"{err.__class__.__name__}: {err}")
            raise

    def _objective(self, trial: optuna.Trial) -> tuple[float, ...]:
        spec, reused = self.admit(trial)
        return reused if reused is not None else self.evaluate(trial, spec)

    @property
    def budget(self) -> ProxyBudget:
        """The study's proxy budget on this worker's device."""
        return self.definition.proxy_for(self.device.type)

    def admit(self, trial: optuna.Trial) -> tuple[ArchSpec, tuple[float, ...] | None]:
        """Sample the spec and record its cost; PRUNED when over budget; a repeat's earlier values."""
        spec = spec_from_trial(trial, self.definition.space)
        self._record_spec(trial, spec)
        cost = analytic_cost(spec)
        trial.set_user_attr("macs", cost.macs)
        trial.set_user_attr("params", cost.params)
        trial.set_user_attr("params_no_bias", cost.params_no_bias)
        reason = self._over_budget(cost.macs, cost.params)
        if reason:
            trial.set_user_attr("rejected", reason)
            raise optuna.TrialPruned(reason)
        earlier = self._evaluated(trial, spec.spec_hash)
        if earlier is not None:
            return spec, self._reuse(trial, earlier)
        return spec, None

    def _record_spec(self, trial: optuna.Trial, spec: ArchSpec) -> None:
        trial.set_user_attr("spec", spec.canonical_json)
        trial.set_user_attr("spec_hash", spec.spec_hash)
        name = self.names.get(spec.spec_hash)
        if name is not None:
            trial.set_user_attr("preset", name)

    def _over_budget(self, macs: int, params: int) -> str:
        d = self.definition
        if d.max_gmacs is not None and macs > d.max_gmacs * 1e9:
            return f"over budget: {macs / 1e9:.2f} G MACs > {d.max_gmacs} G"
        if d.max_mparams is not None and params > d.max_mparams * 1e6:
            return f"over budget: {params / 1e6:.3f} M params > {d.max_mparams} M"
        return ""

    def _evaluated(self, trial: optuna.Trial, spec_hash: str) -> optuna.trial.FrozenTrial | None:
        done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        return next((t for t in done if t.user_attrs.get("spec_hash") == spec_hash), None)

    def _reuse(self, trial: optuna.Trial, earlier: optuna.trial.FrozenTrial) -> tuple[float, ...]:
        """A repeated architecture: the earlier result, without training, marked as a duplicate."""
        for key, value in earlier.user_attrs.items():
            if key not in trial.user_attrs and key != "preset":
                trial.set_user_attr(key, value)
        trial.set_user_attr("duplicate_of", earlier.number)
        assert earlier.values is not None
        return tuple(earlier.values)

    def evaluate(self, trial: optuna.Trial, spec: ArchSpec, budget: ProxyBudget | None = None) -> tuple[float, ...]:
        """Count, train the proxy (the study's budget unless given) and record everything on the trial."""
        from nas.counting import measure

        counts = measure(spec)
        budget = budget or self.budget
        result = train_proxy(spec, budget, self.train, self.val, seed=self.seed, device=self.device.type)
        attrs = {
            "fvcore_total": counts.fvcore_total,
            "ptflops_total": counts.ptflops_total,
            "psnr": result.psnr,
            "ssim": result.ssim,
            "bicubic_psnr": result.bicubic_psnr,
            "gain": result.gain,
            "proxy": budget.as_dict(),
            "train_seconds": result.train_seconds,
            "samples_per_second": result.samples_per_second,
            "device": result.device,
            "seed": self.seed,
            "versions": library_versions(),
        }
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        self._upload(trial, spec, result)
        values: list[float] = [result.psnr, float(trial.user_attrs["macs"]), float(trial.user_attrs["params"])]
        if self.definition.latency:
            values.append(cpu_latency_ms(spec))
            trial.set_user_attr("latency_ms", values[-1])
        return tuple(values)

    def _upload(self, trial: optuna.Trial, spec: ArchSpec, result: ProxyResult) -> None:
        """The spec and the training curve as artifacts, so optuna-dashboard shows them with the trial."""
        with tempfile.TemporaryDirectory() as tmp:
            files = {
                "spec.json": spec.to_json(),
                "proxy.json": json.dumps(result.as_dict(), indent=1),
            }
            for name, text in files.items():
                path = Path(tmp) / name
                path.write_text(text)
                optuna.artifacts.upload_artifact(
                    artifact_store=self.artifacts,
                    file_path=str(path),
                    study_or_trial=trial,
                    mimetype="application/json",
                )


def cpu_latency_ms(spec: ArchSpec, lr_size: int = 128, repeats: int = 3) -> float:
    """Median CPU latency of the full-size network, channels-last, batch 1."""
    from backbones import build_model

    model = build_model(spec).eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.rand(1, 3, lr_size, lr_size).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


class Progress:
    """One line per finished trial: done/total, elapsed, ETA and the current front size."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.monotonic()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        front = len(study.best_trials)
        what = trial.user_attrs.get("preset") or trial.user_attrs.get("spec_hash", "?")
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.values is not None:
            detail = f"PSNR {trial.values[0]:.3f} dB, {trial.values[1] / 1e9:.2f} G MACs"
            if "duplicate_of" in trial.user_attrs:
                detail += f" (repeat of trial {trial.user_attrs['duplicate_of']}, not retrained)"
        else:
            detail = trial.user_attrs.get("rejected") or trial.user_attrs.get("fail_reason", trial.state.name)
        print(
            f"[{self.done}/{self.total}] trial {trial.number} {what}: {detail} | elapsed {elapsed:.0f} s, "
            f"ETA {eta:.0f} s, front {front}",
            file=sys.stderr,
            flush=True,
        )


def run(args: Any) -> int:
    if args.list:
        print(list_studies())
        return 0
    if args.study is None:
        raise UsageError("--study: required (see --list)")
    if args.study not in STUDIES:
        raise UsageError(f"--study: {args.study!r} (allowed: {', '.join(STUDIES)})")
    definition = STUDIES[args.study]
    device = resolve_device(args.device)
    n_trials = args.n_trials if args.n_trials is not None else definition.n_trials
    if n_trials <= 0:
        raise UsageError(f"--n-trials: must be positive, got {n_trials}")
    storage = storage_for(args.storage)
    study, created = open_study(definition, storage, args.seed, args.sampler)
    upscale = definition.space.upscale
    train, _ = training_pictures(args.data, None, None, upscale)
    val = ValidationSet.of(validation_images(args.val_data), upscale)
    store_dir = artifact_dir(args.storage, args.artifacts)
    store_dir.mkdir(parents=True, exist_ok=True)
    searcher = Searcher(
        definition,
        train,
        val,
        device,
        args.seed,
        optuna.artifacts.FileSystemArtifactStore(str(store_dir)),
        named_points(definition),
    )
    print(
        f"study {study.study_name} ({'new' if created else 'resumed'}) in {args.storage}; artifacts in {store_dir};"
        f" {n_trials} trials on {device}",
        file=sys.stderr,
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if args.halving:
            from nas.halving import Rungs, run_halving

            run_halving(study, searcher, n_trials, Rungs(args.eta, args.rungs))
        else:
            study.optimize(
                searcher.objective,
                n_trials=n_trials,
                timeout=args.timeout,
                catch=(DivergenceError, RuntimeError, ValueError),
                callbacks=[Progress(n_trials)],
            )
    except KeyboardInterrupt:
        print("nas.search: interrupted; finished trials are saved, run the same command to go on", file=sys.stderr)
        return 130
    print(summary(study, args.storage, store_dir))
    return 0


def summary(study: optuna.Study, storage: str, store_dir: Path) -> str:
    states = [t.state.name for t in study.trials]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states)))
    lines = [f"{study.study_name}: {len(states)} trials ({counts}); Pareto front (PSNR, MACs, params):"]
    seen: set[str] = set()
    for t in sorted(study.best_trials, key=lambda t: (t.values[1], t.number)):
        if t.user_attrs.get("spec_hash") in seen:  # a repeated architecture is one point
            continue
        seen.add(t.user_attrs.get("spec_hash", ""))
        name = t.user_attrs.get("preset", "")
        lines.append(
            f"  trial {t.number:>3} {name:<10} PSNR {t.values[0]:.3f} dB  {t.values[1] / 1e9:6.2f} G MACs  "
            f"{t.values[2] / 1e6:.3f} M params  [{t.user_attrs.get('spec_hash')}]"
        )
    lines += [
        "next:",
        f"  optuna-dashboard {storage} --artifact-dir {store_dir}",
        f"  python -m nas.report --study {study.study_name} --storage {storage} --out report.html",
        f"  python -m nas.export --study {study.study_name} --storage {storage} --knee --out export/",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(parse_args(argv))
    except (UsageError, SpecError, ImageError) as err:
        print(f"nas.search: error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # device and budget errors from the runner
        print(f"nas.search: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
