"""Train a study's named variants at a multiple of its CPU proxy budget and keep the weights, for ``nas.regions``.

``python -m benchmarks.region_models --study ms3 --variants standard,ms3 --budget-x 10 --out runs/regions/models``

Each variant is trained with the study's own proxy recipe for the device (its width and depth, the same seed and
batches for every variant) scaled to ``--budget-x`` times the iterations, and saved as a ``nas.train``
output folder (``OUT/NAME/spec.json`` and ``model.pt``), which ``nas.regions --model NAME=OUT/NAME``
reads.  A variant whose folder already holds a model is skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.machine import describe
from benchmarks.proxy_recipe import variants
from nas.sr.pictures import training_pictures
from nas.training.full import save_model
from nas.training.loop import resolve_device
from nas.training.proxy import fit_proxy
from studies import STUDIES


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", default="ms3", choices=sorted(STUDIES))
    p.add_argument("--variants", default="standard,ms3", help="comma-separated named variants")
    p.add_argument("--budget-x", type=float, default=10.0, help="times the study's proxy iterations on the device")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (a GPU trains the study's GPU proxy recipe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/regions/models")
    args = p.parse_args(argv)
    study = STUDIES[args.study]
    device = resolve_device(args.device)
    budget = study.proxy_for(device.type).scaled(args.budget_x)
    train, _ = training_pictures((), None, None, study.space.upscale)
    print(f"machine: {describe()}\nbudget: {json.dumps(budget.as_dict())}", flush=True)
    for name, spec in variants(study, [v for v in args.variants.split(",") if v]).items():
        folder = Path(args.out) / name
        if (folder / "model.pt").is_file():
            print(f"{name}: already trained in {folder}", flush=True)
            continue
        began = time.perf_counter()
        model, _ = fit_proxy(spec, budget, train, args.seed, device.type)
        trained = spec.resized(budget.width, budget.blocks)
        save_model(folder, trained, model.cpu())
        seconds = time.perf_counter() - began
        (folder / "final.json").write_text(
            json.dumps({"budget": budget.as_dict(), "seed": args.seed, "seconds": seconds}, indent=2)
        )
        print(f"{name}: {budget.iterations} iterations in {seconds:.0f} s -> {folder}", flush=True)


if __name__ == "__main__":
    main()
