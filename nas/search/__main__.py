"""``python -m nas.search --study NAME``: multi-objective architecture search recorded in an Optuna storage.

Objectives: the study definition's (proxy PSNR max, MACs in the paper's convention min,
params min, and optionally measured CPU latency min).  The work is ``nas.search.runner``;
this module parses the command line and nothing imports it.

Examples::

    python -m nas.search --list
    python -m nas.search --study ms3 --n-trials 8          # SQLite file runs/msnas.db by default
    python -m nas.search --study ms3 --storage postgresql://user@host/db   # many workers share one study
    python -m nas.search --study ms3 --devices cuda:0,cuda:1,cuda:2,cuda:3  # one worker per GPU
    python -m nas.search --study layerwise --proxy iterations=30 --no-named --n-trials 4   # a first look
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nas.cli import Parser, UsageError, bounded, quiet_optuna, run_cli
from nas.search.defaults import ETA, RUNGS
from studies import STUDIES, StudyDef
from studies.budget import BUDGET_FIELDS
from studies.files import (
    StudyFileError,
    dumps,
    load_study_file,
    proxy_overrides,
    renamed,
    study_from_data,
    study_to_data,
    with_proxy,
)

if TYPE_CHECKING:
    from nas.search.runner import SearchConfig

# --list and --dump-study import nothing heavy (torch, optuna, SQLAlchemy: seconds before the first line); a
# search imports them where it starts (tests/nas/test_search_startup.py checks both paths in a fresh interpreter).


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m nas.search", description="Multi-objective search over a named study's space.")
    add_study_args(p)
    add_run_args(p)
    add_schedule_args(p)
    return checked(p.parse_args(argv))


def add_study_args(p: Parser) -> None:
    """Which study, its named points, its proxy budget and zero-cost scores; --list and --dump-study."""
    p.add_argument("--study", default=None, help="a study name (see --list)")
    p.add_argument("--study-file", default=None, help="a study of your own: a TOML file (see --dump-study)")
    p.add_argument(
        "--named",
        action="append",
        default=[],
        metavar="NAME=SPEC.json",
        help="a named point of your own, queued like a paper variant and labelled on the front (repeatable)",
    )
    p.add_argument(
        "--proxy",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a field of the study's proxy budget, CPU and GPU alike (repeatable: --proxy iterations=30"
        f" --proxy batch=8; fields: {', '.join(BUDGET_FIELDS)}); the study records it, and a stored study made"
        " with another budget is refused: give --study-name NEW",
    )
    p.add_argument(
        "--study-name",
        default=None,
        metavar="NEW",
        help="store the (changed) definition as a study of this name, beside the one made without the change",
    )
    p.add_argument(
        "--no-named",
        action="store_true",
        help="queue no named variants: the sampler draws from the first trial (a later run without it queues them)",
    )
    p.add_argument(
        "--named-only",
        default=None,
        metavar="NAME,...",
        help="queue only these named variants (the paper's presets in the space, and your --named points)",
    )
    p.add_argument(
        "--zero-cost",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="score each untrained network (zero-cost proxies), keeping the scores that fit in the study's"
        " zero_cost_share of its proxy training (default 0.1); --no-zero-cost: none",
    )
    p.add_argument("--dump-study", action="store_true", help="print the study's definition as a study file")
    p.add_argument("--list", action="store_true", help="list the studies (and --study-file's)")


def add_run_args(p: Parser) -> None:
    """Where it is stored, how many trials, on which devices and data, with which seeds and sampler."""
    p.add_argument("--storage", default=None, help="SQLAlchemy URL (default: the SQLite file runs/msnas.db)")
    p.add_argument("--artifacts", default=None, help="artifact folder (default: beside a SQLite file, else runs/)")
    p.add_argument("--n-trials", type=int, default=None, help="trials for this process (default: the study's)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--device", default=None, help="auto, cpu or cuda (default auto)")
    p.add_argument(
        "--devices",
        default=None,
        help="one worker process per device on the storage, e.g. cuda:0,cuda:1 or cpu,cpu (--n-trials in all, shared)",
    )
    p.add_argument(
        "--data", action="append", default=[], help="HR training folder; repeatable, for the union (default: bundled)"
    )
    p.add_argument(
        "--val-data",
        action="append",
        default=[],
        help="HR validation folder; repeatable, image names unique across folders (default: bundled photos)",
    )
    p.add_argument(
        "--data-workers",
        type=int,
        default=0,
        help="data-loader processes per proxy run, to keep a GPU fed (default 0: crops cut in the training thread)",
    )
    p.add_argument("--seed", type=int, default=0, help="data order and init: the same for every trial")
    p.add_argument(
        "--sampler-seed",
        type=int,
        default=None,
        help="the sampler's draws (default: --seed); workers sharing a study by hand need distinct ones, or they"
        " draw the same architectures and wait for each other (--devices gives worker K this plus K)",
    )
    p.add_argument(
        "--sampler",
        choices=("nsga2", "tpe", "random"),
        default=None,
        help="override the study's sampler; the study is then stored as NAME-SAMPLER. random draws"
        " architectures uniformly (unbiased samples for nas.analyze) and queues no named variants",
    )


def add_schedule_args(p: Parser) -> None:
    """How trainings are cut short: successive halving, MO-ASHA or early stopping."""
    p.add_argument(
        "--halving",
        action="store_true",
        help="successive halving: --n-trials candidates, the best 1/ETA per MAC group go on to longer rungs",
    )
    p.add_argument(
        "--asha",
        action="store_true",
        help="asynchronous multi-objective halving (MO-ASHA): --n-trials candidates (shared by the workers),"
        " promotes the top 1/ETA of each rung by non-dominated rank, without waiting; any number of workers",
    )
    p.add_argument(
        "--stop-early",
        action="store_true",
        help="stop a proxy run at its first validation past 1/ETA of the run unless it ranks among the first 1/ETA"
        " of the runs that reached it (non-dominated rank on PSNR there, MACs, params); any number of workers",
    )
    p.add_argument("--eta", type=int, default=ETA, help=f"halving: keep 1/ETA per rung (default {ETA})")
    p.add_argument("--rungs", type=int, default=RUNGS, help=f"halving: rungs below the full proxy (default {RUNGS})")


def checked(args: argparse.Namespace) -> argparse.Namespace:
    """The flags that exclude or bound each other, checked together (UsageError); tuples for the data folders."""
    if args.halving + args.asha + args.stop_early > 1:
        raise UsageError("--halving, --asha and --stop-early: choose one")
    if args.stop_early and args.eta < 2:
        raise UsageError(f"--eta must be >= 2 (got {args.eta})")
    if (args.halving or args.asha) and (args.eta < 2 or args.rungs < 1):
        raise UsageError(f"--eta must be >= 2 and --rungs >= 1 (got {args.eta}, {args.rungs})")
    bounded("--data-workers", args.data_workers, 0, os.cpu_count() or 1)
    if args.timeout is not None:
        bounded("--timeout", args.timeout, 1, 365 * 24 * 3600)
    if (args.halving or args.asha) and args.timeout is not None:
        raise UsageError("--timeout: not supported with --halving or --asha (the ladder's cost is set by --n-trials)")
    if args.devices is not None and args.device is not None:
        raise UsageError("--device and --devices: choose one")
    if args.devices is not None and args.halving:
        raise UsageError("--devices: --halving runs in one process (--asha shares its rungs between workers)")
    args.device = args.device or "auto"
    args.data, args.val_data = tuple(args.data), tuple(args.val_data)
    return args


def list_studies(own: StudyDef | None = None) -> str:
    studies = {**STUDIES, **({own.name: own} if own else {})}
    width = max(len(n) for n in studies)
    return "\n".join(f"{name:<{width}}  {s.description}" for name, s in studies.items())


def chosen_definition(args: argparse.Namespace) -> StudyDef | None:
    """The --study-file's definition (refused when --study names another), else None: the --study built-in."""
    if args.study_file is None:
        return None
    try:
        own = load_study_file(args.study_file)
    except StudyFileError as err:
        raise UsageError(f"--study-file: {err}") from None
    if args.study is not None and args.study != own.name:
        raise UsageError(f"--study: {args.study!r} and --study-file {args.study_file} (study {own.name!r}): give one")
    return own


def with_named(definition: StudyDef, named: Sequence[str]) -> StudyDef:
    """The definition with the ``--named NAME=SPEC.json`` points added (they become part of it, stored with it)."""
    points = dict(definition.named)
    for item in named:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--named: {item!r} must read NAME=SPEC.json")
        points[name] = path
    try:
        return study_from_data({**study_to_data(definition), "named": points}, "--named")
    except StudyFileError as err:
        raise UsageError(str(err)) from None


def without_options(argv: Sequence[str], *names: str) -> list[str]:
    """The command line less the valued options ``names`` (``--name V`` or ``--name=V``)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item in names:
            skip = True
        elif not item.startswith(tuple(f"{name}=" for name in names)):
            out.append(item)
    return out


def shares(total: int, workers: int) -> list[int]:
    """``total`` trainings over ``workers`` as evenly as possible, the first workers taking the remainder."""
    return [total // workers + (k < total % workers) for k in range(workers)]


def worker_argvs(argv: Sequence[str], n_trials: Sequence[int], sampler_seed: int) -> list[list[str]]:
    """Each worker's command line: ours less ``--devices`` (it gets its own ``--device``), with its share and its
    own sampler seed (``sampler_seed + k``): with one seed every worker would draw the same architectures."""
    common = without_options(argv, "--devices", "--n-trials", "--sampler-seed")
    return [[*common, "--n-trials", str(n), "--sampler-seed", str(sampler_seed + k)] for k, n in enumerate(n_trials)]


def run_on_devices(args: argparse.Namespace, argv: Sequence[str], own: StudyDef | None) -> str:
    """Start one worker per ``--devices`` item on the storage, show their lines as one, summarise the study.

    ``--n-trials`` (default: the study's) counts the trainings of all workers together, so a search costs the
    same on one device as on eight; a device left without a share is not started."""
    from nas.search.devices import check_one_budget, failed_workers, parse_devices, run_workers
    from nas.search.runner import definition_named, summarize
    from nas.study.experimental import experimental_ok

    devices = parse_devices(args.devices)
    definition = own or definition_named(args.study)
    config = config_of(args)
    total = config.trainings(definition)
    split = [n for n in shares(total, len(devices)) if n > 0]
    if len(split) < len(devices):
        print(f"--n-trials {total}: {len(split)} of the {len(devices)} devices get a training", file=sys.stderr)
        devices = devices[: len(split)]
    with experimental_ok():
        check_one_budget(definition, devices, config.storage, args.sampler)
        print(
            f"{len(devices)} workers on one study, {total} trainings in all:"
            f" {', '.join(f'{d.label} ({n})' for d, n in zip(devices, split, strict=True))}",
            file=sys.stderr,
        )
        failed_workers(devices, run_workers(worker_argvs(argv, split, config.drawing_seed), devices))
        return summarize(config, own)


def config_of(args: argparse.Namespace) -> SearchConfig:
    """The command line as a search's plain-data configuration (no --storage: the configuration's default)."""
    from nas.search.runner import SearchConfig

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(SearchConfig)}
    return SearchConfig(**{k: v for k, v in given.items() if not (k == "storage" and v is None)})


def changed(args: argparse.Namespace, own: StudyDef | None) -> StudyDef | None:
    """The definition with the command line's changes (named points, proxy budget, name), each checked as a study
    file's; None when there is none to change (no --study-file and no valid --study: the caller says why)."""
    if own is None and args.study not in STUDIES:
        flags = [
            f
            for f, given in (("--named", args.named), ("--proxy", args.proxy), ("--study-name", args.study_name))
            if given
        ]
        if flags:
            raise UsageError(f"{flags[0]}: needs --study NAME (allowed: {', '.join(STUDIES)}) or --study-file")
        return None
    definition = own or STUDIES[args.study]
    if args.named:
        definition = with_named(definition, args.named)
    try:
        overrides = proxy_overrides(args.proxy)
    except StudyFileError as err:
        raise UsageError(f"--proxy: {err}") from None
    try:
        definition = with_proxy(definition, overrides)
        return renamed(definition, args.study_name) if args.study_name is not None else definition
    except StudyFileError as err:
        raise UsageError(str(err)) from None


def run(args: argparse.Namespace, argv: Sequence[str]) -> str:
    own = chosen_definition(args)
    if args.list:
        return list_studies(own)
    definition = changed(args, own)
    if args.dump_study:
        if definition is None:
            raise UsageError(f"--dump-study: needs --study NAME (allowed: {', '.join(STUDIES)}) or --study-file")
        return dumps(definition).rstrip("\n")
    from nas.search.named import chosen_named
    from nas.search.runner import definition_named, run_search
    from nas.study.experimental import experimental_ok

    if definition is not None:
        args.study = definition.name
        args.named_only = chosen_named(definition, args.no_named, args.named_only)
    elif args.no_named or args.named_only is not None:
        definition_named(args.study)  # one line: required, or not a study
    quiet_optuna()  # a failed trial is one line of ours, not Optuna's traceback
    if args.devices is not None:
        return run_on_devices(args, argv, definition)
    with experimental_ok():
        return run_search(config_of(args), definition)


def main(argv: Sequence[str] | None = None) -> int:
    saved = "finished trials are saved, run the same command to go on"
    line = list(sys.argv[1:] if argv is None else argv)
    return run_cli(
        "nas.search", lambda: run(parse_args(line), line), (ValueError,), interrupted=saved
    )  # ValueError: device


if __name__ == "__main__":
    sys.exit(main())
