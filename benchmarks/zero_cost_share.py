"""What share of a proxy run do its zero-cost scores cost?  CPU seconds of the scores against the training.

``python -m benchmarks.zero_cost_share [--iterations 30] [--study ms3 ...]``

For each built-in study (or those given) and each of its uniform points that costs the most and the least
MACs, this times, in CPU seconds of this process (user + sys, every thread: ``time.process_time``, not
distorted by other jobs on the machine as wall time is), the zero-cost scores that ``nas.search`` records
and the proxy training (``fit_proxy``: the training steps, no validation) at the study's CPU budget, with
``--iterations`` in place of its own when given.  One torch thread, so the CPU time is the work itself, not
OpenMP threads waiting for a core.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence

import torch

from backbones import build_model
from benchmarks.machine import cpu_name
from nas.measure.zero_cost import ZC_NAMES, plan_for, zero_cost_scores
from nas.sr.patches import PatchSampler
from nas.sr.pictures import Picture, training_pictures
from nas.training.loop import set_seed
from nas.training.proxy import fit_proxy
from space import analytic_cost
from space.arch import ArchSpec
from studies import STUDIES, StudyDef
from studies.budget import ProxyBudget


def extremes(definition: StudyDef) -> list[ArchSpec]:
    """The uniform points of the space with the most and the fewest full-size MACs."""
    specs = sorted((spec for _, spec in definition.space.uniform_points()), key=lambda s: analytic_cost(s).macs)
    return list({s.spec_hash: s for s in (specs[-1], specs[0])}.values())


def score_seconds(
    definition: StudyDef, spec: ArchSpec, budget: ProxyBudget, train: Sequence[Picture], every: bool, seed: int = 0
) -> tuple[float, list[str]]:
    """CPU seconds of the zero-cost scores ``nas.search`` computes for ``spec`` at ``budget`` (``every``: all six,
    as before issue 32), and which."""
    names = ZC_NAMES if every else plan_for(definition.space, budget, definition.zero_cost_share).names
    set_seed(seed)
    model = build_model(spec)
    began = time.process_time()
    lr, hr = PatchSampler.from_images(train, spec.upscale, budget.patch, budget.batch, seed).batch_at(0)
    scores = zero_cost_scores(model, lr, hr, names) if names else {}
    return time.process_time() - began, sorted(scores)


def train_seconds(spec: ArchSpec, budget: ProxyBudget, train: Sequence[Picture]) -> float:
    """CPU seconds of the proxy's training steps."""
    began = time.process_time()
    fit_proxy(spec, budget, train, seed=0, device="cpu")
    return time.process_time() - began


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", action="append", default=[], help="a built-in study (default: every one)")
    p.add_argument("--iterations", type=int, default=30, help="the short proxy's iterations (default 30)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"{cpu_name()}, 1 torch thread, CPU seconds (process_time)")
    print(
        "| study | architecture | training s, default (short) | every score s | share default / short |"
        " plan default: s, share | plan short: scores, s, share |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.study or list(STUDIES):
        definition = STUDIES[name]
        default = definition.proxy_for("cpu")
        short = dataclasses.replace(default, iterations=args.iterations, warmup=min(default.warmup, args.iterations))
        train, _ = training_pictures((), None, None, definition.space.upscale)
        for spec in extremes(definition):
            fit = train_seconds(spec, short, train)
            fit_default = fit * default.iterations / short.iterations  # a step costs the same at any budget
            every, _ = score_seconds(definition, spec, short, train, every=True)
            at_default, _ = score_seconds(definition, spec, default, train, every=False)
            at_short, names = score_seconds(definition, spec, short, train, every=False)
            label = f"{spec.spec_hash[:8]} ({analytic_cost(spec).macs / 1e9:.1f} G)"
            print(
                f"| {name} | {label} | {fit_default:.1f} ({fit:.2f}) | {every:.2f} |"
                f" {every / fit_default:.1%} / {every / fit:.1%} | {at_default:.2f}, {at_default / fit_default:.1%} |"
                f" {', '.join(names) or 'none'}: {at_short:.2f}, {at_short / fit:.1%} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
