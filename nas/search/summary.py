"""A searched study in a few lines: trials by state, the Pareto front, what waits, and the commands to go on."""

from __future__ import annotations

from pathlib import Path

import optuna

from nas.analysis.fronts import front
from nas.study.naming import join_names, plural, trial_arch_name
from nas.study.objectives import names as objective_names
from nas.study.records import arch_records
from nas.study.urls import public_url


def summary(study: optuna.Study, storage: str, store_dir: Path) -> str:
    """Counts by state and the Pareto front on every objective, one architecture per line."""
    states = [t.state.name for t in study.trials]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states)))
    records = arch_records(study)
    on_front = front(records)
    objectives = records[0].objectives if records else ()
    lines = [
        f"{study.study_name}: {plural(len(states), 'trial')} ({counts}), "
        f"{plural(len(records), 'distinct architecture')} evaluated; "
        f"Pareto front ({objective_names(objectives)}):"
    ]
    for r in sorted(on_front, key=lambda r: (r.macs, r.number)):
        extra = "".join(f"  {o.name} {r.value(o):.3g}" for o in objectives[3:])
        lines.append(
            f"  trial {r.number:>3} {r.preset or '':<10} PSNR {r.psnr:.3f} dB  {r.macs / 1e9:6.2f} G MACs  "
            f"{r.params / 1e6:.3f} M params{extra}  [{r.spec_hash}]"
        )
    waiting = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    if waiting:
        names = join_names(trial_arch_name(t.number, t.user_attrs) for t in waiting)
        lines.append(f"{plural(len(waiting), 'queued trial')} still WAITING ({names}): run the same command to go on")
    below = [r.name for r in records if not r.learned]
    if below:
        lines.append(f"WARNING: {len(below)} of {len(records)} architectures score at or below bicubic "
                     f"({join_names(below)}): the proxy does not separate them")  # fmt: skip
    storage = public_url(storage)
    lines += [
        "next:" if "***" not in storage else "next (with the storage's password in place of ***):",
        f"  python -m nas.dashboard --storage {storage} --artifacts {store_dir}",
        f"  python -m nas.report --study {study.study_name} --storage {storage} --out report.html",
        f"  python -m nas.export --study {study.study_name} --storage {storage} --knee --out export/",
    ]
    return "\n".join(lines)
