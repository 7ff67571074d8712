"""How well do zero-cost proxies rank SR architectures?  Each against the proxy PSNR and any longer budget.

``python -m benchmarks.zero_cost --study ms3 --storage sqlite:///runs/bench17/studies.db [--budget-x 3]``

For every architecture the study trained, this scores the untrained full-size network on the proxy's
first batch (seed 0, as ``nas.search`` does; trials that already hold ``zc_*`` attributes are read,
not recomputed), then prints, for each score and for params and MACs, Kendall tau and Spearman rho
(bootstrap 95 % intervals) against the proxy PSNR and, where ``nas.fidelity`` recorded it, against
the PSNR at ``--budget-x`` times the proxy budget (mean over seeds), with the seconds each took.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import optuna

from backbones import build_model
from benchmarks.machine import describe
from nas.analysis.proxy_stats import rank_correlations
from nas.measure.zero_cost import ZC_NAMES, zero_cost_scores
from nas.sr.patches import PatchSampler
from nas.sr.pictures import training_pictures
from nas.study import keys
from nas.study.companion import fidelity_records
from nas.study.records import ArchRecord, arch_records
from nas.study.storage import open_existing_study
from nas.training.loop import set_seed
from studies import STUDIES


def scores(records: list[ArchRecord], study_name: str, seed: int) -> tuple[dict[str, dict[str, float]], float]:
    """spec_hash -> score name -> value, and the mean seconds per architecture for the computed ones."""
    definition = STUDIES[study_name.removesuffix("-random")]
    budget = definition.proxy_for("cpu")
    train, _ = training_pictures((), None, None, definition.space.upscale)
    lr, hr = PatchSampler.from_images(train, definition.space.upscale, budget.patch, budget.batch, seed).batch_at(0)
    out: dict[str, dict[str, float]] = {}
    seconds = []
    for r in records:
        if all(keys.zc_key(n) in r.trial.user_attrs for n in ZC_NAMES):
            out[r.spec_hash] = {n: float(r.trial.user_attrs[keys.zc_key(n)]) for n in ZC_NAMES}
            continue
        began = time.perf_counter()
        set_seed(seed)
        out[r.spec_hash] = zero_cost_scores(build_model(r.spec), lr, hr)
        seconds.append(time.perf_counter() - began)
        print(f"  {r.name:<18} " + " ".join(f"{n} {v:.4g}" for n, v in out[r.spec_hash].items()), flush=True)
    return out, float(np.mean(seconds)) if seconds else float("nan")


def long_budget(study: optuna.Study, budget_x: float) -> dict[str, float]:
    """spec_hash -> mean PSNR over seeds at ``budget_x`` times the proxy budget."""
    runs: dict[str, list[float]] = defaultdict(list)
    for t in fidelity_records(study):
        if t.user_attrs.get(keys.BUDGET_X) == budget_x:
            runs[str(t.user_attrs[keys.SPEC_HASH])].append(float(t.user_attrs[keys.PSNR_KEY]))
    return {h: float(np.mean(v)) for h, v in runs.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", default="ms3")
    p.add_argument("--storage", default="sqlite:///runs/msnas.db")
    p.add_argument("--budget-x", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"machine: {describe()}")
    study = open_existing_study(args.storage, args.study)
    records = arch_records(study)
    zc, seconds = scores(records, args.study, args.seed)
    predictors = {n: {h: s[n] for h, s in zc.items()} for n in ZC_NAMES}
    predictors["params (fewer ranks higher)"] = {r.spec_hash: -r.params for r in records}
    predictors["MACs (fewer ranks higher)"] = {r.spec_hash: -r.macs for r in records}
    targets = {"proxy PSNR": {r.spec_hash: r.psnr for r in records}}
    longer = long_budget(study, args.budget_x)
    if len(longer) >= 3:
        targets[f"{args.budget_x:g}x PSNR"] = longer
    print(f"\n{len(records)} architectures; zero-cost scores took {seconds:.1f} s per architecture (all of them)")
    rng = np.random.default_rng(0)
    for target, values in targets.items():
        print(f"\nagainst {target} (n = {len(values)}): Kendall tau [95 %], Spearman rho [95 %]")
        for name, pred in predictors.items():
            common = [h for h in values if h in pred and np.isfinite(pred[h])]
            c = rank_correlations([pred[h] for h in common], [values[h] for h in common], rng=rng)
            print(f"  {name:<28} {c.kendall_tau:+.2f} [{c.tau_low:+.2f}, {c.tau_high:+.2f}]  "
                  f"{c.spearman_rho:+.2f} [{c.rho_low:+.2f}, {c.rho_high:+.2f}]")  # fmt: skip


if __name__ == "__main__":
    main()
