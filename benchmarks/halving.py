"""Does multi-fidelity search buy a better front for the same compute?  Plain vs halving vs MO-ASHA, repeated.

``python -m benchmarks.halving [--study ms3] [--budget 6] [--eta 3] [--rungs 1] [--repeats 5] [--dir runs/halving]
[--arms plain,halving,asha] [--reference NAME@URL]``

Every arm draws architectures with the same seeded uniform sampler (``--sampler random``) and trains with the
same proxy; the repeat's number is the seed of both the sampler and the training (data order, init), so the
arms of one repeat are paired and the repeats also vary the training noise. The plain arm trains ``budget``
candidates fully; the halving arm (synchronous, MAC groups) and the asha arm (asynchronous, non-dominated
rank) start ``budget / (rungs + 1) * eta**rungs`` candidates, which costs ``budget`` full proxy runs when
every rung is full; the stop arm (``nas.search --stop-early``: one run per candidate, stopped at its check
unless its curve ranks among the first 1/eta) starts ``budget / (f + (1 - f) / eta)`` candidates, f the
check's share of the run. Each run's actual spend is counted from its trials (rung iterations over the
proxy's). Hypervolume is taken over (PSNR, MACs, params) of each run's COMPLETE architectures, every objective
scaled to [0, 1] over the union of all runs (and of ``--reference`` when given, e.g. a study that evaluated
the whole space), reference point 1.1; the table gives each arm's median and range over the repeats, and
``eaf.json`` the empirical attainment function (moocore) of each arm at 25/50/75 %. Each arm's first look
(rung 0, or the stop arm's curve check) is also ranked against the full-proxy PSNRs of the same architectures
at the same training seed, from ``--reference`` or else the recorded plain runs (Kendall, Spearman, spans):
the agreement a rung budget has to rest on.
Each multi-fidelity arm is also compared with the plain run of its repeat cut to as many finished architectures:
whether it picks better points count for count, even where it finishes fewer.
Finished runs are recorded in ``results.jsonl`` and skipped when the command is run again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any

import moocore
import numpy as np
import optuna
from optuna.trial import TrialState

from benchmarks.machine import describe
from nas.analysis.fronts import hypervolume, scaled_losses
from nas.analysis.proxy_stats import rank_correlations
from nas.cli import quiet_optuna
from nas.errors import MsnasError
from nas.search.runner import SearchConfig, run_search
from nas.search.stopping import CurveStopper
from nas.study import keys
from nas.study.experimental import experimental_ok
from nas.study.records import arch_records, is_result
from nas.study.storage import storage_for
from studies import DIRECTIONS, STUDIES

REFERENCE = 1.1
ARMS = ("plain", "halving", "asha", "stop")


def spend(study: optuna.Study, full_iterations: int) -> float:
    """Full proxy runs a study's trials trained: rung iterations where recorded, else one per trained trial."""
    total = 0.0
    for t in study.get_trials(deepcopy=False):
        rungs: list[dict[str, Any]] = []
        for r in itertools.count():  # rungs 0, 1, ... as far as the trial climbed
            if not isinstance(found := t.user_attrs.get(keys.rung_key(r)), dict):
                break
            rungs.append(found)
        if rungs:
            total += sum(float(r["iterations"]) for r in rungs) / full_iterations
            if t.state == TrialState.COMPLETE and all(r["iterations"] != full_iterations for r in rungs):
                total += 1.0  # synchronous halving records the lower rungs only; its last is the proxy
        elif t.state == TrialState.COMPLETE and is_result(t) and keys.TRAIN_SECONDS in t.user_attrs:
            total += 1.0
        elif t.state == TrialState.PRUNED and keys.STOPPED_AT in t.user_attrs:
            total += float(t.user_attrs[keys.STOPPED_AT]) / full_iterations  # stopped from its learning curve
    return total


def study_spend(db: Path, study: str) -> float:
    """A run's spend, counted from its study's trials."""
    loaded = optuna.load_study(study_name=f"{study}-random", storage=storage_for(f"sqlite:///{db}"))
    return spend(loaded, STUDIES[study].cpu_proxy.iterations)


def run_arm(study: str, url: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Run one arm once; its distinct COMPLETE points (PSNR, MACs, params) and wall seconds."""
    start = time.perf_counter()
    try:
        with experimental_ok():
            run_search(SearchConfig(study, storage=url, sampler="random", **extra))
    except MsnasError as err:
        raise SystemExit(f"nas.search failed for {url}: {err}") from None
    loaded = optuna.load_study(study_name=f"{study}-random", storage=storage_for(url))
    return {"points": [list(r.point) for r in arch_records(loaded)], "seconds": time.perf_counter() - start}


def arm_settings(arm: str, budget: int, eta: int, rungs: int, seed: int, iterations: int) -> dict[str, Any]:
    if arm == "plain":
        return {"n_trials": budget, "seed": seed}
    if arm == "stop":  # a run costs the check's share f, and 1 if it goes on (1 in eta): f + (1 - f) / eta
        check = CurveStopper(eta).check_at(iterations)
        share = 1.0 if check is None else check / iterations
        return {"stop_early": True, "n_trials": math.floor(budget / (share + (1 - share) / eta)), "eta": eta,
                "seed": seed}  # fmt: skip
    candidates = math.floor(budget / (rungs + 1)) * eta**rungs
    return {arm: True, "n_trials": candidates, "eta": eta, "rungs": rungs, "seed": seed}


Keyed = dict[tuple[int, str], float]  # (training seed, spec hash) -> PSNR


def full_proxy_psnrs(
    folder: Path, study: str, recorded: list[dict[str, Any]], reference: str | None
) -> tuple[str, Keyed]:
    """Full-proxy PSNR per (training seed, architecture): the reference study's, else the recorded plain runs'."""
    if reference:
        name, _, url = reference.partition("@")
        loaded = optuna.load_study(study_name=name, storage=storage_for(url))
        return name, {(int(r.trial.user_attrs.get(keys.SEED, 0)), r.spec_hash): r.psnr for r in arch_records(loaded)}
    full: Keyed = {}
    for seed in (r["seed"] for r in recorded if r["arm"] == "plain"):
        url = f"sqlite:///{folder / f'plain-{seed}.db'}"
        full |= {
            (seed, r.spec_hash): r.psnr
            for r in arch_records(optuna.load_study(study_name=f"{study}-random", storage=storage_for(url)))
        }
    return "the plain runs", full


def first_looks(folder: Path, study: str, arm: str, seed: int, eta: int) -> Keyed:
    """Each architecture's PSNR where one run of the arm first judged it: rung 0, or the stop arm's curve check."""
    iterations = STUDIES[study].cpu_proxy.iterations
    db = folder / f"{arm}-{seed}.db"
    check = CurveStopper(eta).check_at(iterations) if arm == "stop" else None
    loaded = optuna.load_study(study_name=f"{study}-random", storage=storage_for(f"sqlite:///{db}"))
    out: Keyed = {}
    for t in loaded.get_trials(deepcopy=False):
        if keys.SPEC_HASH not in t.user_attrs:
            continue
        found = t.user_attrs.get(keys.curve_at_key(check)) if check else t.user_attrs.get(keys.rung_key(0))
        if isinstance(found, dict):
            found = found["psnr"]
        if isinstance(found, float):
            out[(seed, str(t.user_attrs[keys.SPEC_HASH]))] = found
    return out


def within_repeats(first: Keyed, full: Keyed, common: list[tuple[int, str]]) -> tuple[float, int]:
    """Kendall's tau over the pairs of architectures judged in the same repeat (the ranking an arm acts on,
    free of the level shifts between training seeds), and the number of such pairs."""
    score, pairs = 0.0, 0
    for a, b in itertools.combinations(common, 2):
        if a[0] == b[0]:
            score += float(np.sign(first[a] - first[b]) * np.sign(full[a] - full[b]))
            pairs += 1
    return (score / pairs if pairs else float("nan")), pairs


def rung_agreement(
    folder: Path, study: str, arm: str, eta: int, runs: list[dict[str, Any]], full: Keyed, name: str
) -> str | None:
    """How an arm's first look ranks architectures against their full-proxy PSNRs at the same training seed.

    A repeat's seed is its sampler's and its training's, so a first look pairs with the full proxy of the same
    architecture and seed (another arm's run of that repeat, or the reference's); within a repeat the arms'
    results are deterministic.  This is the agreement the rung budget (or the check) rests on.
    """
    first: Keyed = {}
    for run in runs:
        if run["arm"] == arm:
            first |= first_looks(folder, study, arm, run["seed"], eta)
    common = sorted(set(first) & set(full))
    if len(common) < 3:
        return None
    x, y = [first[k] for k in common], [full[k] for k in common]
    c = rank_correlations(x, y, rng=np.random.default_rng(0))
    tau, pairs = within_repeats(first, full, common)
    return (
        f"{arm}: first look against the full proxy of {name}, {len(common)} (seed, architecture) pairs: within"
        f" repeats Kendall {tau:+.2f} over {pairs} pairs; pooled Kendall {c.kendall_tau:+.2f}"
        f" [{c.tau_low:+.2f}, {c.tau_high:+.2f}], Spearman {c.spearman_rho:+.2f};"
        f" first-look PSNRs span {np.ptp(x):.3f} dB, the full proxy's {np.ptp(y):.3f} dB"
    )


def reference_points(text: str | None) -> list[list[float]]:
    """Points of another study, ``NAME@URL`` (e.g. one that evaluated every architecture)."""
    if not text:
        return []
    name, _, url = text.partition("@")
    return [list(r.point) for r in arch_records(optuna.load_study(study_name=name, storage=storage_for(url)))]


def volumes(runs: list[dict[str, Any]], reference: list[list[float]]) -> list[float]:
    """Each run's hypervolume on one common scaling, as a fraction of the reference box."""
    union = [tuple(p) for r in runs for p in r["points"]] + [tuple(p) for p in reference]
    scaled = scaled_losses(union, DIRECTIONS)
    out, i = [], 0
    box = REFERENCE ** len(DIRECTIONS)
    for r in runs:
        n = len(r["points"])
        out.append(hypervolume(scaled[i : i + n], [REFERENCE] * len(DIRECTIONS)) / box if n else 0.0)
        i += n
    return out


def at_equal_count(runs: list[dict[str, Any]], arm: str, reference: list[list[float]]) -> str | None:
    """The arm against the plain run of the same repeat cut to as many finished architectures (its first k, in
    trial order; the same sampler seed draws them first): does the arm pick better points, count for count?"""
    plain = {r["seed"]: r for r in runs if r["arm"] == "plain"}
    own = [r for r in runs if r["arm"] == arm and r["seed"] in plain]
    if not own:
        return None
    cut = [{**plain[r["seed"]], "points": plain[r["seed"]]["points"][: len(r["points"])]} for r in own]
    hv = volumes(runs + cut, reference)  # cut points are plain's: the scaling stays the table's
    mine = [hv[i] for i, r in enumerate(runs) if r["arm"] == arm and r["seed"] in plain]
    diff = np.subtract(mine, hv[len(runs) :])
    count = np.median([len(r["points"]) for r in own])
    return (
        f"{arm}: against plain cut to its count of finished architectures (median {count:.0f}): hypervolume"
        f" difference median {np.median(diff):+.4f} [{diff.min():+.4f}, {diff.max():+.4f}],"
        f" ahead in {int((diff > 0).sum())} of {len(diff)} repeats, tied in {int((diff == 0).sum())}"
    )


def attainment(runs: list[dict[str, Any]], all_points: list[tuple[float, ...]]) -> dict[str, Any]:
    """moocore's empirical attainment function of one arm's repeats at 25/50/75 % (scaled losses)."""
    lo, hi = np.min(all_points, axis=0), np.max(all_points, axis=0)
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in DIRECTIONS])
    rows, sets = [], []
    for k, r in enumerate(runs):
        for p in r["points"]:
            rows.append(((np.array(p) - lo) / np.where(hi > lo, hi - lo, 1.0)) * signs)
            sets.append(k + 1)
    if not rows:
        return {}
    surface = moocore.eaf(np.array(rows), np.array(sets), percentiles=[25, 50, 75])
    return {"columns": ["loss_psnr", "loss_macs", "loss_params", "percentile"], "points": surface.tolist()}


def train_missing(
    args: argparse.Namespace, arms: list[str], folder: Path, log: Path, done: dict[tuple[str, int], dict]
) -> None:
    """Each arm and seed from --train-from on not yet in results.jsonl, appended to it as it finishes."""
    for seed in range(args.train_from, args.repeats):
        for arm in arms:
            if (arm, seed) in done:
                continue
            db = folder / f"{arm}-{seed}.db"
            if db.exists():  # an interrupted run: start it again from nothing
                db.unlink()
            iterations = STUDIES[args.study].cpu_proxy.iterations
            settings = arm_settings(arm, args.budget, args.eta, args.rungs, seed, iterations)
            result = run_arm(args.study, f"sqlite:///{db}", settings)
            done[(arm, seed)] = {"arm": arm, "seed": seed, **result}
            with log.open("a") as f:
                f.write(json.dumps(done[(arm, seed)]) + "\n")
            print(f"{arm} seed {seed}: {len(result['points'])} architectures, spend {study_spend(db, args.study):.2f},"
                  f" {result['seconds']:.0f} s", flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", default="ms3", choices=sorted(STUDIES))
    p.add_argument("--budget", type=int, default=6, help="full proxy runs per arm and repeat")
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--rungs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5, help="seeds 0..R-1 of the sampler")
    p.add_argument(
        "--train-from", type=int, default=0, help="train only seeds from this one on (another process has the rest)"
    )
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    p.add_argument("--dir", default="runs/halving", help="one SQLite study per arm and repeat, and results.jsonl")
    p.add_argument("--reference", default=None, help="NAME@URL of a study to scale against (e.g. the full space)")
    args = p.parse_args()
    quiet_optuna()  # as nas.search: a failed trial is one line, not Optuna's traceback
    arms = [a for a in args.arms.split(",") if a]
    if not arms or set(arms) - set(ARMS):
        raise SystemExit(f"--arms: choose from {', '.join(ARMS)}")
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "results.jsonl"
    done = {(r["arm"], r["seed"]): r for r in map(json.loads, log.read_text().splitlines())} if log.exists() else {}
    print(f"machine: {describe()}")
    train_missing(args, arms, folder, log, done)
    missing = [f"{a} seed {s}" for a in arms for s in range(args.repeats) if (a, s) not in done]
    if missing:
        raise SystemExit(f"not recorded yet (another process trains them): {', '.join(missing)}")
    runs = [done[(a, s)] for a in arms for s in range(args.repeats)]
    reference = reference_points(args.reference)
    hv = dict(zip([(r["arm"], r["seed"]) for r in runs], volumes(runs, reference), strict=True))
    print(f"\nstudy {args.study}, budget {args.budget} full proxy runs, eta {args.eta}, {args.rungs} rung(s), "
          f"{args.repeats} repeats; hypervolume median [min, max], spend median")  # fmt: skip
    for arm in arms:
        values = [hv[(arm, s)] for s in range(args.repeats)]
        spent = [study_spend(folder / f"{arm}-{s}.db", args.study) for s in range(args.repeats)]
        print(
            f"  {arm:<8} {np.median(values):.4f} [{min(values):.4f}, {max(values):.4f}]  spend {np.median(spent):.2f}"
        )
    name, full = full_proxy_psnrs(folder, args.study, list(done.values()), args.reference)
    for arm in arms:
        if (
            arm != "plain"
            and (agreement := rung_agreement(folder, args.study, arm, args.eta, runs, full, name)) is not None
        ):
            print(agreement)
    for arm in arms:
        if arm != "plain" and "plain" in arms and (line := at_equal_count(runs, arm, reference)) is not None:
            print(line)
    all_points = [tuple(p) for r in runs for p in r["points"]] + [tuple(p) for p in reference]
    eaf = {arm: attainment([r for r in runs if r["arm"] == arm], all_points) for arm in arms}
    (folder / "eaf.json").write_text(json.dumps(eaf))
    print(f"wrote {folder / 'eaf.json'} (attainment surfaces at 25/50/75 %)")


if __name__ == "__main__":
    main()
