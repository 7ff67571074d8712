"""Does a proxy recipe teach every named variant of a study?  Gains over bicubic, recipe by recipe, side by side.

``python -m benchmarks.proxy_recipe --study carn-ms3 --variants standard,ms3 --recipe base --recipe peak_lr=1e-3``

Each ``--recipe`` is ``base`` (the study's CPU proxy) or comma-separated ``field=value`` overrides of it
(any ``ProxyBudget`` field: ``peak_lr=1e-3,iterations=600``).  Every variant is trained under every recipe
with the same data and seed; the table gives the validation PSNR gain over bicubic (the default
validation images) and the training seconds, and each run is appended to ``--out`` as a JSON line, so
an interrupted measurement resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

from benchmarks.machine import describe
from nas.sr.held_out import validation_images
from nas.sr.pictures import training_pictures
from nas.study.naming import named_points
from nas.training.proxy import ValidationSet, train_proxy
from space.arch import ArchSpec
from studies import STUDIES, ProxyBudget, StudyDef


def recipe(base: ProxyBudget, text: str) -> ProxyBudget:
    """``base`` or ``field=value,...`` applied to it (values typed as the field's default)."""
    if text == "base":
        return base
    kinds = {f.name: type(getattr(base, f.name)) for f in fields(base)}
    changes: dict[str, object] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name not in kinds:
            raise SystemExit(f"--recipe: no field {name!r}; fields: {', '.join(kinds)}")
        changes[name] = None if value == "None" else kinds[name](value)
    return replace(base, **changes)  # type: ignore[arg-type]


def variants(study: StudyDef, wanted: list[str]) -> dict[str, ArchSpec]:
    """The study's named variants (uniform points of its space that have a preset's name), by name."""
    names = named_points(study)
    found = {names[spec.spec_hash]: spec for _, spec in study.space.uniform_points() if spec.spec_hash in names}
    missing = [w for w in wanted if w not in found]
    if missing:
        raise SystemExit(f"--variants: {missing} are not named points of {study.name}: {sorted(found)}")
    return {w: found[w] for w in wanted} if wanted else found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", default="carn-ms3", choices=sorted(STUDIES))
    p.add_argument("--variants", default="", help="comma-separated named variants (default: all of the study's)")
    p.add_argument("--recipe", action="append", default=[], help="'base' or field=value,... (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/proxy_recipe.jsonl")
    args = p.parse_args()
    study = STUDIES[args.study]
    base = study.proxy_for("cpu")
    recipes = {text: recipe(base, text) for text in (args.recipe or ["base"])}
    chosen = variants(study, [v for v in args.variants.split(",") if v])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # a run is known by its budget, not its label: "base" changes when a study's proxy does
    done = {(r["study"], r["variant"], _budget_key(r.get("budget")), r["seed"]) for r in map(json.loads, _lines(out))}
    print(f"machine: {describe()}")
    train, _ = training_pictures((), None, None, study.space.upscale)
    val = ValidationSet.of(validation_images(()), study.space.upscale)
    print(f"bicubic {val.bicubic.psnr:.3f} dB on the default validation images")
    for name, spec in chosen.items():
        for text, budget in recipes.items():
            key = (args.study, name, _budget_key(budget.as_dict()), args.seed)
            if key in done:
                continue
            began = time.perf_counter()
            result = train_proxy(spec, budget, train, val, args.seed)
            row = {
                "study": args.study,
                "variant": name,
                "recipe": text,
                "seed": args.seed,
                "psnr": result.psnr,
                "gain": result.gain,
                "seconds": time.perf_counter() - began,
                "curve": list(result.curve),
                "budget": budget.as_dict(),
            }
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{name:12s} {text:32s} gain {result.gain:+.3f} dB  {row['seconds']:.0f} s", flush=True)
    rows = [r for r in map(json.loads, _lines(out)) if r["study"] == args.study and r["seed"] == args.seed]
    print(f"\n{'variant':12s} " + " ".join(f"{t:>24s}" for t in recipes))
    for name in chosen:
        cells = {_budget_key(r.get("budget")): r["gain"] for r in rows if r["variant"] == name}
        keys = [_budget_key(b.as_dict()) for b in recipes.values()]
        print(f"{name:12s} " + " ".join(f"{cells[k]:+24.3f}" if k in cells else f"{'-':>24s}" for k in keys))


def _budget_key(budget: object) -> str:
    return json.dumps(budget, sort_keys=True)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


if __name__ == "__main__":
    main()
