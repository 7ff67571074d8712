"""Pareto fronts that know the proxy is noisy: PSNR as mean +- interval over seed repeats.

A study has seed repeats when one architecture was trained with several seeds at
the proxy budget: trials of the study itself with different ``seed`` attributes,
or ``nas.fidelity --budget-x 1 --seeds S`` records in the companion study.  The
seed noise is pooled over every repeated architecture (so an architecture run
once gets the same standard deviation), and a point is called dominated only when
another point is no costlier and better in PSNR by more than the noise
(``eps = 1.96 * sqrt(se_i^2 + se_j^2)``); otherwise a dominated point is *tied
within noise*.  MACs and params are exact, so they need no interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

from nas.stats import dominance, noise_front

Z = 1.96
FIDELITY_SUFFIX = ".fidelity"
STATUS_COLOURS = {"front": "#d62728", "tied": "#ff7f0e", "dominated": "#7f7f7f"}


def seed_results(study: optuna.Study) -> dict[str, dict[int, float]]:
    """spec_hash -> seed -> proxy PSNR, from the study's trials and its 1x fidelity records."""
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "spec_hash" in t.user_attrs and "duplicate_of" not in t.user_attrs and t.values:
            out[t.user_attrs["spec_hash"]].setdefault(int(t.user_attrs.get("seed", 0)), float(t.values[0]))
    for t in fidelity_records(study):
        if t.user_attrs.get("budget_x") == 1:
            out[t.user_attrs["spec_hash"]].setdefault(int(t.user_attrs["seed"]), float(t.user_attrs["psnr"]))
    return dict(out)


def fidelity_records(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    name = study.study_name + FIDELITY_SUFFIX
    if name not in optuna.get_all_study_names(study._storage):
        return []
    other = optuna.load_study(study_name=name, storage=study._storage)
    return other.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


@dataclass(frozen=True)
class NoisyPoint:
    number: int
    name: str  # preset name or spec hash
    preset: str
    macs: float
    params: float
    psnr: tuple[float, ...]  # one per seed

    @property
    def mean(self) -> float:
        return float(np.mean(self.psnr))


@dataclass(frozen=True)
class NoiseFront:
    points: tuple[NoisyPoint, ...]
    seed_sd: float
    status: tuple[str, ...]  # "front", "tied" or "dominated"
    rivals: tuple[tuple[int, ...], ...]  # indices of the points that dominate each (within or beyond noise)

    def se(self, i: int) -> float:
        return self.seed_sd / np.sqrt(len(self.points[i].psnr))

    def half_width(self, i: int) -> float:
        return Z * self.se(i)


def pooled_sd(samples: Sequence[Sequence[float]]) -> float:
    """Pooled within-group standard deviation of the groups with two or more values."""
    groups = [np.asarray(s, dtype=float) for s in samples if len(s) > 1]
    dof = sum(len(g) - 1 for g in groups)
    return float(np.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof)) if dof else float("nan")


def noise_aware(points: Sequence[NoisyPoint]) -> NoiseFront | None:
    """The noise-aware labels, or None when no architecture has seed repeats."""
    sd = pooled_sd([p.psnr for p in points])
    if not points or not np.isfinite(sd):
        return None
    costs = np.array([[p.macs, p.params] for p in points])
    mean = np.array([p.mean for p in points])
    se = np.array([sd / np.sqrt(len(p.psnr)) for p in points])
    status = noise_front(costs, mean, se, Z)
    beaten = dominance(costs, mean, np.zeros((len(points), len(points))))  # [j, i]: j dominates i on the means
    rivals = tuple(tuple(int(j) for j in np.flatnonzero(beaten[:, i])) for i in range(len(points)))
    return NoiseFront(tuple(points), sd, tuple(status), rivals)


def noisy_points(
    firsts: Sequence[tuple[int, str, str, float, float]], seeds: Mapping[str, Mapping[int, float]]
) -> list[NoisyPoint]:
    """Points from (trial number, spec_hash, preset, macs, params) and the seed results by spec."""
    out = []
    for number, spec_hash, preset, macs, params in firsts:
        runs = seeds.get(spec_hash, {})
        if runs:
            values = tuple(v for _, v in sorted(runs.items()))
            out.append(NoisyPoint(number, preset or spec_hash, preset, macs, params, values))
    return out


def noise_lines(front: NoiseFront) -> list[str]:
    """Sentences: the seed noise, and each named variant's standing."""
    repeated = sum(len(p.psnr) > 1 for p in front.points)
    lines = [
        f"Seed repeats: {repeated} of {len(front.points)} architectures were trained with 2 or more seeds; pooled seed"
        f" SD {front.seed_sd:.3f} dB. PSNR is the mean over seeds with a 95 % interval; a point is dominated only"
        " beyond that noise."
    ]
    for i, p in enumerate(front.points):
        if p.preset:
            lines.append(f"{p.preset} (trial {p.number}): {standing(front, i)}.")
    return lines


def standing(front: NoiseFront, i: int) -> str:
    p = front.points[i]
    head = f"{p.mean:.3f} +- {front.half_width(i):.3f} dB over {len(p.psnr)} seed(s)"
    rivals = [front.points[j] for j in front.rivals[i]]
    best = max(rivals, key=lambda r: r.mean, default=None)
    if front.status[i] == "front" or best is None:
        return f"{head}, on the front"
    verb = "dominated beyond noise by" if front.status[i] == "dominated" else "tied within noise with"
    return f"{head}, {verb} {best.name} (trial {best.number}, {best.mean:.3f} dB)"


def noise_figure(front: NoiseFront) -> go.Figure:
    """PSNR (mean +- 95 % interval) against MACs, coloured by standing."""
    fig = go.Figure()
    for status, colour in STATUS_COLOURS.items():
        idx = [i for i, s in enumerate(front.status) if s == status]
        if not idx:
            continue
        fig.add_trace(
            go.Scatter(
                x=[front.points[i].macs / 1e9 for i in idx],
                y=[front.points[i].mean for i in idx],
                error_y={"type": "data", "array": [front.half_width(i) for i in idx]},
                mode="markers+text",
                text=[front.points[i].preset for i in idx],
                textposition="top center",
                marker={"color": colour, "size": 9},
                name={"front": "on the front", "tied": "tied within noise", "dominated": "dominated beyond noise"}[
                    status
                ],
            )
        )
    fig.update_layout(
        title=f"Noise-aware front: PSNR mean +- 95 % interval (pooled seed SD {front.seed_sd:.3f} dB)",
        xaxis_title="G MACs (full network, 128x128 LR)",
        yaxis_title="proxy PSNR (dB)",
    )
    return fig
