"""``python -m nas.fidelity --study NAME``: can the short proxy's ranking be trusted?

Re-trains K architectures of a finished study (its named variants, then its front,
then a random sample of the rest) at X times the proxy budget each trial used,
with S seeds on the same data, and reports how well the proxy ranks them (Kendall
tau, Spearman rho, bootstrap intervals) next to the naive predictors params and
MACs.  Seed ``s`` gives every architecture the same batches in the same order
(common random numbers), so architectures are compared by paired differences.

Finished Optuna trials cannot take new attributes, so each re-training is a trial
of a companion study ``NAME.fidelity`` in the same storage (its user attributes
name the source trial, the seed and the budget); optuna-dashboard shows both.  A
killed run resumes where it stopped: work already recorded is not trained again.

Examples::

    python -m nas.fidelity --study ms3-random --storage sqlite:///runs/analysis.db --k 8 --budget-x 2 --seeds 2
    python -m nas.fidelity --study ms3-random --budget-x 1 --seeds 3    # seed repeats at the proxy budget
    python -m nas.fidelity --study ms3 --shard 0/2 & python -m nas.fidelity --study ms3 --shard 1/2   # two workers
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.cli import Parser, UsageError, run_cli
from nas.data import training_pictures, validation_images
from nas.noisefront import FIDELITY_SUFFIX as SUFFIX
from nas.noisefront import pooled_sd
from nas.proxy import ProxyResult, ValidationSet, train_proxy
from nas.records import ArchRecord, arch_records, open_existing_study
from nas.report import pareto_mask
from nas.search import DEFAULT_STORAGE, library_versions
from nas.stats import Correlations, paired_summary, rank_correlations, seeds_needed
from nas.training import resolve_device
from studies import DIRECTIONS
from studies.budget import ProxyBudget

DELTAS = (0.03, 0.1, 0.3)  # dB differences the seed counts are given for (--deltas)


# ---- which architectures, which work ----


@dataclass(frozen=True)
class Pick:
    """An architecture chosen for re-training and why."""

    record: ArchRecord
    reason: str  # "named", "front" or "random"


def select(records: Sequence[ArchRecord], k: int, sample_seed: int = 0) -> list[Pick]:
    """The named variants, then the front, then a seeded random sample of the rest, up to ``k``."""
    front = pareto_mask([r.values[:3] for r in records], DIRECTIONS)
    named = [Pick(r, "named") for r in records if r.preset]
    on_front = [Pick(r, "front") for r, f in zip(records, front, strict=True) if f and not r.preset]
    rest = [r for r, f in zip(records, front, strict=True) if not f and not r.preset]
    order = np.random.default_rng(sample_seed).permutation(len(rest))
    return [*named, *on_front, *(Pick(rest[i], "random") for i in order)][:k]


def budget_of(record: ArchRecord, factor: float) -> ProxyBudget:
    """``factor`` times the proxy budget the trial was trained with."""
    recorded = record.attr("proxy")
    if not isinstance(recorded, dict):
        raise UsageError(f"trial {record.number} has no recorded proxy budget")
    return ProxyBudget(**recorded).scaled(factor)


def work_key(spec_hash: str, budget: ProxyBudget, seed: int) -> str:
    """What identifies one re-training: the architecture, the exact budget and the seed."""
    return f"{spec_hash}|{seed}|{json.dumps(budget.as_dict(), sort_keys=True)}"


@dataclass(frozen=True)
class Work:
    pick: Pick
    budget: ProxyBudget
    factor: float
    seed: int

    @property
    def key(self) -> str:
        return work_key(self.pick.record.spec_hash, self.budget, self.seed)


def plan(picks: Sequence[Pick], factor: float, seeds: int) -> list[Work]:
    """Every (architecture, seed) pair; seed-major, so a partial run already has every architecture once."""
    return [Work(p, budget_of(p.record, factor), factor, s) for s in range(seeds) for p in picks]


def shard_of(text: str) -> tuple[int, int]:
    """``I/N`` -> (I, N): this worker does the work items whose index is I modulo N."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard: {text!r} is not I/N (e.g. 0/2)") from None
    if not 0 <= i < n:
        raise UsageError(f"--shard: {text!r} needs 0 <= I < N")
    return i, n


# ---- the companion study ----


def companion(study: optuna.Study) -> optuna.Study:
    """The study that holds re-training results: created on first use, same storage and directions."""
    name = study.study_name + SUFFIX
    try:
        other = optuna.create_study(study_name=name, storage=study._storage, directions=study.directions[:3])
        other.set_metric_names(["psnr", "macs", "params"])
        other.set_user_attr("source_study", study.study_name)
        return other
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=study._storage)


def recorded(fidelity: optuna.Study) -> dict[str, FrozenTrial]:
    return {
        str(t.user_attrs["key"]): t
        for t in fidelity.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if "key" in t.user_attrs
    }


def reusable(work: Work) -> bool:
    """The proxy run itself: same seed at 1x on a CPU (deterministic there), so it need not run again."""
    r = work.pick.record
    return work.factor == 1 and work.seed == r.seed and r.attr("device") == "cpu"


def store(fidelity: optuna.Study, work: Work, result: ProxyResult | None) -> None:
    """One re-training as a COMPLETE trial of the companion study (``result`` None: the original run)."""
    r = work.pick.record
    psnr = r.psnr if result is None else result.psnr
    attrs: dict[str, Any] = {
        "key": work.key,
        "source_trial": r.number,
        "spec_hash": r.spec_hash,
        "spec": r.attr("spec"),
        "macs": r.macs,
        "params": r.params,
        "reason": work.pick.reason,
        "budget_x": work.factor,
        "proxy": work.budget.as_dict(),
        "seed": work.seed,
        "proxy_psnr": r.psnr,
        "psnr": psnr,
        "versions": library_versions(),
    }
    if r.preset:
        attrs["preset"] = r.preset
    if result is None:
        attrs["reused_trial"] = r.number
    else:
        attrs.update(ssim=result.ssim, train_seconds=result.train_seconds, device=result.device)
    fidelity.add_trial(
        optuna.trial.create_trial(
            state=TrialState.COMPLETE,
            values=[psnr, r.macs, r.params],
            params=r.trial.params,
            distributions=r.trial.distributions,
            user_attrs=attrs,
        )
    )


def run_work(fidelity: optuna.Study, todo: Sequence[Work], args: argparse.Namespace) -> int:
    """Train what is not yet recorded, one line of progress each; returns how many runs trained."""
    device = resolve_device(args.device)
    upscale = todo[0].pick.record.spec.upscale if todo else 4
    train, _ = training_pictures(args.data, None, None, upscale)
    val = ValidationSet.of(validation_images(args.val_data), upscale)
    start, trained = time.monotonic(), 0
    for i, work in enumerate(todo, 1):
        result = None
        if not reusable(work):
            result = train_proxy(work.pick.record.spec, work.budget, train, val, seed=work.seed, device=device.type)
            trained += 1
        store(fidelity, work, result)
        elapsed = time.monotonic() - start
        psnr = work.pick.record.psnr if result is None else result.psnr
        print(
            f"[{i}/{len(todo)}] {work.pick.record.name} seed {work.seed} x{work.factor:g}: PSNR {psnr:.3f} dB"
            f"{' (the proxy run itself)' if result is None else ''} | elapsed {elapsed:.0f} s,"
            f" ETA {elapsed / i * (len(todo) - i):.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return trained


# ---- statistics ----


@dataclass(frozen=True)
class ArchFidelity:
    pick: Pick
    proxy_psnr: float
    long: dict[int, float]  # seed -> PSNR at the longer budget

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.long.values())))

    @property
    def sd(self) -> float:
        return float(np.std(list(self.long.values()), ddof=1)) if len(self.long) > 1 else float("nan")


@dataclass(frozen=True)
class FidelityStats:
    factor: float
    archs: tuple[ArchFidelity, ...]
    proxy: Correlations
    params: Correlations
    macs: Correlations
    seed_sd: float  # pooled within-architecture SD over seeds (unpaired)
    paired_sd: float  # pooled SD of per-seed differences between architectures (common random numbers)
    pairs_resolved: int  # pairs whose paired 95 % interval excludes 0
    pairs: int

    def seeds_for(self, delta: float, paired: bool) -> int | None:
        sd = self.paired_sd if paired else self.seed_sd
        return None if not np.isfinite(sd) or sd == 0 else seeds_needed(sd, delta, paired=paired)

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget_x": self.factor,
            "n": len(self.archs),
            "proxy": vars(self.proxy),
            "params": vars(self.params),
            "macs": vars(self.macs),
            "seed_sd": self.seed_sd,
            "paired_sd": self.paired_sd,
            "pairs_resolved": self.pairs_resolved,
            "pairs": self.pairs,
            "archs": [
                {"trial": a.pick.record.number, "name": a.pick.record.name, "reason": a.pick.reason,
                 "proxy_psnr": a.proxy_psnr, "long": {str(s): v for s, v in a.long.items()}}
                for a in self.archs
            ],
        }  # fmt: skip


def gather(picks: Sequence[Pick], factor: float, done: dict[str, FrozenTrial]) -> list[ArchFidelity]:
    """Each picked architecture with the re-training results recorded for it at ``factor``."""
    out = []
    for p in picks:
        budget = budget_of(p.record, factor)
        long = {}
        for t in done.values():
            if t.user_attrs["key"] == work_key(p.record.spec_hash, budget, t.user_attrs["seed"]):
                long[int(t.user_attrs["seed"])] = float(t.user_attrs["psnr"])
        if long:
            out.append(ArchFidelity(p, p.record.psnr, dict(sorted(long.items()))))
    return out


def fidelity_stats(archs: Sequence[ArchFidelity], factor: float, rng: np.random.Generator) -> FidelityStats:
    """Rank agreement of proxy, params and MACs with the long-budget mean, and the seed noise."""
    if len(archs) < 3:
        raise UsageError(f"need results for at least 3 architectures, have {len(archs)}")
    target = np.array([a.mean for a in archs])
    predictors = {
        "proxy": np.array([a.proxy_psnr for a in archs]),
        "params": np.array([a.pick.record.params for a in archs]),
        "macs": np.array([a.pick.record.macs for a in archs]),
    }
    corr = {name: rank_correlations(x, target, rng=rng) for name, x in predictors.items()}
    return FidelityStats(factor, tuple(archs), corr["proxy"], corr["params"], corr["macs"], *seed_noise(archs))


def seed_noise(archs: Sequence[ArchFidelity]) -> tuple[float, float, int, int]:
    """Pooled seed SD, pooled SD of paired differences, and how many pairs a paired interval resolves."""
    seed_sd = pooled_sd([list(a.long.values()) for a in archs])
    diff_vars, resolved, pairs = [], 0, 0
    for i, a in enumerate(archs):
        for b in archs[i + 1 :]:
            common = sorted(set(a.long) & set(b.long))
            if len(common) < 2:
                continue
            paired = paired_summary(np.array([a.long[s] for s in common]), np.array([b.long[s] for s in common]))
            diff_vars.append(paired.sd_diff**2)
            pairs += 1
            resolved += int(paired.ci_low > 0 or paired.ci_high < 0)
    paired_sd = float(np.sqrt(np.mean(diff_vars))) if diff_vars else float("nan")
    return seed_sd, paired_sd, resolved, pairs


def summary(stats: FidelityStats, name: str, deltas: Sequence[float] = DELTAS) -> list[str]:
    def corr(label: str, c: Correlations) -> str:
        return (
            f"  {label:<6} Kendall tau {c.kendall_tau:+.2f} [{c.tau_low:+.2f}, {c.tau_high:+.2f}]   "
            f"Spearman rho {c.spearman_rho:+.2f} [{c.rho_low:+.2f}, {c.rho_high:+.2f}]"
        )

    lines = [f"{name}: proxy fidelity at {stats.factor:g}x the proxy budget, {len(stats.archs)} architectures"]
    lines.append(
        f"  {'trial':>5}  {'architecture':<18} {'why':<6} {'proxy dB':>9} {'long dB':>9} {'seed SD':>8}  seeds"
    )
    for a in sorted(stats.archs, key=lambda a: -a.mean):
        r = a.pick.record
        lines.append(
            f"  {r.number:>5}  {r.name:<18} {a.pick.reason:<6} {a.proxy_psnr:9.3f} {a.mean:9.3f} {a.sd:8.3f}  "
            f"{len(a.long)}"
        )
    lines.append("rank agreement with the long-budget PSNR (95 % bootstrap intervals):")
    lines += [corr("proxy", stats.proxy), corr("params", stats.params), corr("MACs", stats.macs)]
    lines.append(
        f"seed noise: SD {stats.seed_sd:.3f} dB per architecture; SD of paired differences {stats.paired_sd:.3f} dB;"
        f" {stats.pairs_resolved} of {stats.pairs} pairs resolved by paired 95 % intervals"
    )
    for delta in deltas:
        unpaired, paired = stats.seeds_for(delta, False), stats.seeds_for(delta, True)
        lines.append(f"  to resolve {delta:g} dB (5 % level, 80 % power): {unpaired} seeds unpaired, {paired} paired")
    return lines


# ---- command line ----


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.fidelity", description="Re-train a study's architectures longer; rank agreement.")
    p.add_argument("--study", required=True, help="the study name in the storage")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})")
    p.add_argument("--k", type=int, default=10, help="architectures to re-train (default 10)")
    p.add_argument("--budget-x", type=float, default=3.0, help="times the proxy budget (default 3)")
    p.add_argument("--seeds", type=int, default=2, help="seeds 0..S-1 per architecture (default 2)")
    p.add_argument("--sample-seed", type=int, default=0, help="which random architectures fill up to K")
    p.add_argument("--shard", default="0/1", help="I/N: this worker's share of the work (default 0/1)")
    p.add_argument("--report-only", action="store_true", help="train nothing; report what is recorded")
    p.add_argument("--out", default=None, help="folder for fidelity.json and fidelity.html")
    p.add_argument(
        "--deltas",
        default=",".join(map(str, DELTAS)),
        help=f"PSNR differences (dB) to give seed counts for (default {','.join(map(str, DELTAS))})",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--data", default=None, help="HR training folder (default: bundled photos, as the search)")
    p.add_argument("--val-data", default=None, help="HR validation folder (default: bundled photos)")
    args = p.parse_args(argv)
    if args.k < 3:
        raise UsageError(f"--k: at least 3 architectures are needed for a rank correlation, got {args.k}")
    if args.budget_x <= 0 or args.seeds < 1:
        raise UsageError("--budget-x must be positive and --seeds at least 1")
    try:
        args.deltas = tuple(float(x) for x in args.deltas.split(","))
    except ValueError:
        raise UsageError(f"--deltas: {args.deltas!r} is not a comma-separated list of numbers") from None
    if not args.deltas or min(args.deltas) <= 0:
        raise UsageError("--deltas: differences must be positive")
    return args


def run(args: argparse.Namespace) -> str:
    study = open_existing_study(args.storage, args.study)
    if args.study.endswith(SUFFIX):
        raise UsageError(f"--study: {args.study!r} is a fidelity record; name the study it came from")
    picks = select(arch_records(study), args.k, args.sample_seed)
    if len(picks) < 3:
        raise UsageError(f"--study: {args.study!r} has {len(picks)} finished architectures; 3 or more are needed")
    fidelity = companion(study)
    index, count = shard_of(args.shard)
    done = recorded(fidelity)
    work = plan(picks, args.budget_x, args.seeds)
    todo = [w for i, w in enumerate(work) if i % count == index and w.key not in done]
    lines = [f"{len(work)} runs planned ({len(picks)} architectures x {args.seeds} seeds), {len(work) - len(todo)}"
             f" recorded or another shard's; this worker trains {sum(not reusable(w) for w in todo)}"]  # fmt: skip
    if todo and not args.report_only:
        print(lines[0], file=sys.stderr, flush=True)
        run_work(fidelity, todo, args)
        done = recorded(fidelity)
    archs = gather(picks, args.budget_x, done)
    if len(archs) < 3 and not args.report_only:  # another shard holds the rest
        lines.append(f"{len(archs)} architectures recorded so far: run --report-only when every shard is done")
        return "\n".join(lines)
    stats = fidelity_stats(archs, args.budget_x, np.random.default_rng(0))
    study.set_user_attr(f"fidelity_x{args.budget_x:g}", stats.as_dict())
    lines += summary(stats, args.study, args.deltas)
    if args.out:
        lines.append(write_outputs(Path(args.out), stats, args.study))
    return "\n".join(lines)


def write_outputs(folder: Path, stats: FidelityStats, name: str) -> str:
    """fidelity.json and a scatter of proxy vs long-budget PSNR (HTML) in ``folder``."""
    import plotly.graph_objects as go

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fidelity.json").write_text(json.dumps(stats.as_dict(), indent=1))
    fig = go.Figure(
        go.Scatter(
            x=[a.proxy_psnr for a in stats.archs],
            y=[a.mean for a in stats.archs],
            error_y={"type": "data", "array": [0 if np.isnan(a.sd) else a.sd for a in stats.archs]},
            mode="markers+text",
            text=[a.pick.record.preset or "" for a in stats.archs],
            textposition="top center",
        )
    )
    fig.update_layout(
        title=f"{name}: proxy vs {stats.factor:g}x budget (Kendall tau {stats.proxy.kendall_tau:+.2f})",
        xaxis_title="proxy PSNR (dB)",
        yaxis_title=f"PSNR at {stats.factor:g}x, mean over seeds (dB)",
    )
    fig.write_html(folder / "fidelity.html", include_plotlyjs=True)
    return f"wrote {folder / 'fidelity.json'} and {folder / 'fidelity.html'}"


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.fidelity", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
