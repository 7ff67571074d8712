"""``python -m nas.cost``: MACs and params of a preset or spec file, counted three ways.

Examples::

    python -m nas.cost --preset ms3
    python -m nas.cost --backbone carn --preset ms3 --blocks 8 --json
    python -m nas.cost --preset ms3 --dump-spec > ms3.json
    python -m nas.cost --spec ms3.json --lr-size 64
    python -m nas.cost --paper-table
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from nas.cli import Parser, UsageError, run_cli
from nas.output.paper import MACS_TOLERANCE, PAPER_ROWS, PARAMS_TOLERANCE, PaperRow
from space import PRESETS, ArchSpec, SpecError, analytic_cost, load_spec, preset
from space.cost import DEFAULT_LR_SIZE
from space.layout import LAYOUTS, UPSCALES


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.cost", description="Conv MACs (the paper's FLOPs) and params of a network.")
    p.add_argument("--backbone", default="srresnet", help=f"one of {', '.join(LAYOUTS)} (default srresnet)")
    p.add_argument("--preset", default=None, help="a named variant (see --list); default standard")
    p.add_argument("--spec", default=None, help="an architecture spec JSON file instead of a preset")
    p.add_argument("--blocks", type=int, default=None, help="residual (SRResNet) or cascading (CARN) blocks")
    p.add_argument("--scale", type=int, default=4, help="upscale factor: 2, 3 or 4 (default 4)")
    p.add_argument("--lr-size", type=int, default=DEFAULT_LR_SIZE, help="LR input side in pixels (default 128)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--list", action="store_true", help="list the presets")
    p.add_argument("--dump-spec", action="store_true", help="print the canonical spec JSON instead of costs")
    p.add_argument("--paper-table", action="store_true", help="our counts beside the paper's tables")
    return p.parse_args(argv)


def spec_from_args(args: argparse.Namespace) -> ArchSpec:
    """The spec the command line names: a file, or a preset on a backbone."""
    if args.scale not in UPSCALES:
        raise SpecError("--scale", repr(args.scale), UPSCALES)
    if args.spec is not None:
        if args.preset is not None:
            raise UsageError("give --spec or --preset, not both")
        return load_spec(args.spec)
    return preset(args.preset or "standard", args.backbone, args.scale, args.blocks)


def list_presets() -> str:
    width = max(len(n) for n in PRESETS)
    return "\n".join(f"{name:<{width}}  {p.description}" for name, p in PRESETS.items())


def cost_text(spec: ArchSpec, label: str, counts: dict[str, int], lr_size: int) -> str:
    g, m = 1e9, 1e6
    return "\n".join(
        [
            f"{label}: {spec.backbone} x{spec.upscale}, width {spec.width}, {spec.blocks} blocks, "
            f"{spec.scales} scale(s), LR {lr_size}x{lr_size}  [spec {spec.spec_hash}]",
            f"  MACs (conv multiply-adds, paper convention): {counts['macs'] / g:.4f} G",
            f"  params: {counts['params'] / m:.4f} M with bias, {counts['params_no_bias'] / m:.4f} M without",
            f"  fvcore: conv {counts['fvcore_conv'] / g:.4f} G"
            f" ({'equals' if counts['fvcore_conv'] == counts['macs'] else 'DIFFERS FROM'} the analytic count),"
            f" total {counts['fvcore_total'] / g:.4f} G",
            f"  ptflops: {counts['ptflops_total'] / g:.4f} G (adds bias, ReLU, pooling, upsampling),"
            f" params {counts['ptflops_params'] / m:.4f} M",
        ]
    )


def relative_error(ours: float, paper: float) -> float:
    return abs(ours - paper) / paper


def paper_table() -> str:
    """Each published row beside our analytic count, with the relative error."""
    lines = [
        f"{'table':<14}{'row':<22}{'G MACs':>9}{'paper':>8}{'err':>8}  {'M params':>9}{'paper':>7}{'err':>7}  bias"
    ]
    for row in PAPER_ROWS:
        lines.append(paper_row_text(row))
    lines.append(
        f"MACs: conv multiply-adds at 128x128 LR (x4). Tolerances: MACs {MACS_TOLERANCE:.1%}, "
        f"params {PARAMS_TOLERANCE:.0%}."
    )
    return "\n".join(lines)


def paper_row_text(row: PaperRow) -> str:
    head = f"{row.table:<14}{row.label:<22}"
    if row.preset is None:
        return head + f"{'-':>9}{row.gmacs:>8.2f}{'':>8}  {'-':>9}{row.mparams:>7.2f}{'':>7}  {row.note}"
    cost = analytic_cost(preset(row.preset, row.backbone, 4, row.blocks))
    params = cost.params if row.bias == "with" else cost.params_no_bias
    gmacs, mparams = cost.macs / 1e9, params / 1e6
    note = f"  ({row.note})" if row.note else ""
    return head + (
        f"{gmacs:>9.4f}{row.gmacs:>8.2f}{relative_error(gmacs, row.gmacs):>8.3%}  "
        f"{mparams:>9.4f}{row.mparams:>7.2f}{relative_error(mparams, row.mparams):>7.2%}  {row.bias}{note}"
    )


def run(args: argparse.Namespace) -> str:
    if args.list:
        return list_presets()
    if args.paper_table:
        return paper_table()
    spec = spec_from_args(args)
    if args.dump_spec:
        return spec.to_json()
    from nas.measure.counting import measure  # torch, fvcore and ptflops load only when a model is counted

    counts = measure(spec, args.lr_size).as_dict()
    label = args.spec or args.preset or "standard"
    if args.json:
        return json.dumps({"spec_hash": spec.spec_hash, "lr_size": args.lr_size, **counts})
    return cost_text(spec, label, counts, args.lr_size)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nas.cost", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
