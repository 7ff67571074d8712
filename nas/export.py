"""``python -m nas.export``: one trial of a search study as a folder to train, load and deploy.

Pick exactly one trial:

- ``--trial N``: that trial; it must be COMPLETE.
- ``--preset NAME``: the COMPLETE trial of a named variant (the lowest-numbered one, which the
  search trained; later repeats of the same spec only copy its result).
- ``--knee``: the knee of the Pareto front on PSNR vs MACs (see ``knee``).
- ``--max-macs G``: the best proxy PSNR among COMPLETE trials with at most G * 1e9 MACs.

The front is the architectures (each once) that no other dominates on all the study's objectives
(PSNR max, MACs min, params min, and latency min where the study measures it); PRUNED (over
budget) and FAILED trials are never candidates.

``--out DIR`` receives ``spec.json`` (the canonical spec), ``provenance.json`` (where it came from),
``model.ts`` (TorchScript), ``model.onnx`` and ``README.txt``.  The models are a fresh, *untrained*
``build_model(spec)``: the search trained only a short proxy, often at a reduced size, so the
weights are not kept; train the spec fully with ``nas.train``.  Both model files are checked
against the eager model before anything is written to DIR.  DIR must be new or empty: a folder that
holds anything (a ``nas.train`` run, whose spec.json the export would replace) is refused unless
``--overwrite`` is given, and then only the five files are replaced.

Examples::

    python -m nas.export --study ms3 --knee --out export/ms3-knee
    python -m nas.export --study tiny --storage sqlite:///runs/tiny.db --preset ms3 --out export/tiny-ms3
    python -m nas.export --study ms3 --max-macs 20 --out export/ms3-20g
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna

from nas.analysis.fronts import front
from nas.analysis.selection import SELECTORS, select
from nas.cli import Parser, run_cli
from nas.output.export import check_out, export_trial, summary
from nas.study.experimental import experimental_ok
from nas.study.records import arch_records
from nas.study.storage import DEFAULT_STORAGE, open_existing_study


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
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; must be empty, or --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out, replacing its five files")
    return p.parse_args(argv)


def selection_of(args: argparse.Namespace) -> tuple[str, Any]:
    """Which selector the command line names, and its argument."""
    given = [(mode, getattr(args, mode)) for mode in SELECTORS]
    return next((mode, value) for mode, value in given if value is not None and value is not False)


def run(args: argparse.Namespace) -> str:
    """Open the study, pick the trial, export it; the summary to print."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = check_out(Path(args.out), args.overwrite)
    with experimental_ok():
        study = open_existing_study(args.storage, args.study)
        mode, argument = selection_of(args)
        trials, records = study.get_trials(deepcopy=False), arch_records(study)
        trial = select(trials, records, mode, argument)
        selection: dict[str, Any] = {"mode": mode, "argument": argument}
        warning = ""
        if mode == "knee":
            selection["front"] = sorted(r.number for r in front(records))
            if len(selection["front"]) <= 2:
                warning = (
                    f"WARNING: the Pareto front has {len(selection['front'])} point(s), so it has no knee: took the"
                    " one with the fewest MACs (use --trial, --preset or --max-macs to choose)\n"
                )
                selection["warning"] = warning.strip()
        return warning + summary(export_trial(study, trial, args.storage, selection, out), out)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: 0 on success; 2 and one line on stderr for any bad input or failed check."""
    return run_cli("nas.export", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
