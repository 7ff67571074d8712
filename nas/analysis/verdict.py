"""Decisions between two architectures: better, practically equivalent, worse beyond a margin, or open.

A difference of PSNR is only worth acting on when it exceeds a region of practical equivalence (ROPE,
``rope`` dB, Benavoli et al. 2017, "Time for a change").  Two architectures trained with the same seeds
(the same batches in the same order) and validated on the same images are compared through a crossed
model of their per-image, per-seed PSNRs::

    y[a, s, i] = mu_a + seed_s + image_i + (a x seed)[a, s] + (a x image)[a, i] + noise

- The seed shift ``seed_s`` moves every architecture alike (measured: all 7 named variants lower at seed 1),
  so it cancels in a difference; what remains is the architecture-by-seed interaction, pooled over every
  architecture at one budget by an additive fit of the per-run means (``SeedModel``: architecture + seed,
  residual degrees of freedom N - A - S + 1).  One seed everywhere leaves it unmeasured: the pair is open.
- The images: with ``images="random"`` (the default) the validation images are a sample of the images a
  researcher cares about, and the per-image differences add their variance (Student t over images); with
  ``images="fixed"`` the verdict is about these images only (as a paper's table on Set5 is).

The two parts combine with Welch-Satterthwaite degrees of freedom into a Student-t for the difference
``a - b``.  From it come the posterior probabilities of the three regions under a flat prior
(``p_better`` = P(diff > rope), ``p_equivalent``, ``p_worse``) and the frequentist tests they equal:
"better" at level alpha is p_better > 1 - alpha (the one-sided test of diff <= rope); "equivalent" is
TOST (both one-sided tests of |diff| >= rope reject: max(p_better, p_worse) < alpha).  A race looks at a
pair many times, so alpha is spent over the looks (``Margin.looks``); the error rates of both rules
under racing are measured in ``benchmarks/verdict_errors.py`` (BENCHMARKS.md, "Verdicts").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from nas.jsonvalues import finite_or_none
from studies import DEFAULT_ROPE

Decision = Literal["better", "equivalent", "worse", "open"]
ImageModel = Literal["random", "fixed"]
Rule = Literal["tost", "bayes"]
DECISIONS: tuple[Decision, ...] = ("better", "equivalent", "worse", "open")
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class Run:
    """One training of one architecture at one budget and seed, validated image by image."""

    arch: str  # spec hash (or any name)
    budget: float  # times the proxy budget
    seed: int
    images: Mapping[str, float]  # validation image name -> PSNR (dB)
    seconds: float = 0.0  # training time, where recorded
    cost: float = 0.0  # compute in proxy budgets (a nested branch: its own decay only); 0: the budget itself

    @property
    def compute(self) -> float:
        return self.cost or self.budget


@dataclass(frozen=True)
class Margin:
    """What a decision rests on: the ROPE, the error rate spent per pair, and how images count."""

    rope: float = DEFAULT_ROPE
    alpha: float = DEFAULT_ALPHA
    images: ImageModel = "random"
    rule: Rule = "tost"
    looks: int = 1  # alpha is spent evenly over this many looks at one pair (a race's seeds per budget)

    def __post_init__(self) -> None:
        if not (self.rope > 0 and math.isfinite(self.rope)):
            raise ValueError(f"rope: must be a positive number of dB, got {self.rope}")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha: must be in (0, 0.5), got {self.alpha}")
        if self.looks < 1:
            raise ValueError(f"looks: at least 1, got {self.looks}")

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / self.looks

    def describe(self) -> str:
        return (
            f"ROPE +-{self.rope:g} dB, {self.rule.upper() if self.rule == 'tost' else 'Bayesian ROPE'} at alpha "
            f"{self.alpha:g}"
            + (f" spent over {self.looks} looks" if self.looks > 1 else "")
            + f", images {self.images}"
        )


@dataclass(frozen=True)
class PairVerdict:
    """The decision on PSNR(a) - PSNR(b) at one budget, and everything it rests on."""

    a: str
    b: str
    budget: float
    decision: Decision
    reason: str  # why open, or what the decision rests on
    difference: float  # dB, a - b
    low: float  # the (1 - 2 alpha') interval: inside the ROPE means equivalent (TOST)
    high: float
    se: float
    df: float
    seed_se: float
    image_se: float
    p_better: float  # posterior P(a - b > rope) under a flat prior
    p_equivalent: float
    p_worse: float
    seeds: tuple[int, int]  # seeds of a and of b at this budget
    common_seeds: int
    images: int
    rope: float

    def flipped(self) -> PairVerdict:
        """The same verdict read from b's side."""
        opposite: dict[Decision, Decision] = {"better": "worse", "worse": "better"}
        return PairVerdict(
            self.b, self.a, self.budget, opposite.get(self.decision, self.decision), self.reason, -self.difference,
            -self.high, -self.low, self.se, self.df, self.seed_se, self.image_se, self.p_worse, self.p_equivalent,
            self.p_better, (self.seeds[1], self.seeds[0]), self.common_seeds, self.images, self.rope,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: finite_or_none(v) if isinstance(v, float) else v for k, v in data.items()}

    def sentence(self, names: Mapping[str, str] | None = None) -> str:
        """``ms3 vs standard at 10x: worse by more than 0.05 dB (-0.057 dB [-0.09, -0.02], ...)``."""
        name = (names or {}).get
        a, b = name(self.a, self.a), name(self.b, self.b)
        what = {
            "better": f"better by more than {self.rope:g} dB",
            "worse": f"worse by more than {self.rope:g} dB",
            "equivalent": f"practically equivalent (within +-{self.rope:g} dB)",
            "open": "open",
        }[self.decision]
        if not math.isfinite(self.se):
            shown = f"{self.difference:+.3f} dB; " if math.isfinite(self.difference) else ""
            return f"{a} vs {b} at {self.budget:g}x: {what}: {shown}{self.reason}"
        return (
            f"{a} vs {b} at {self.budget:g}x: {what}: {self.difference:+.3f} dB [{self.low:+.3f}, {self.high:+.3f}], "
            f"P(better/equivalent/worse) {self.p_better:.2f}/{self.p_equivalent:.2f}/{self.p_worse:.2f}; "
            f"{self.reason}"
        )


# ---- the seed part: an additive fit of per-run means over every architecture at one budget ----


@dataclass(frozen=True, eq=False)
class SeedModel:
    """architecture + seed fitted to the per-run mean PSNRs at one budget; its residual is the seed noise."""

    archs: tuple[str, ...]
    seeds: tuple[int, ...]
    coef: np.ndarray
    cov_unscaled: np.ndarray  # (X'X)^+
    design_rows: np.ndarray  # X, to tell whether a contrast is estimable
    residual_var: float  # nan without residual degrees of freedom
    df: int
    runs: int

    @property
    def residual_sd(self) -> float:
        return math.sqrt(self.residual_var) if self.df > 0 else float("nan")

    def contrast(self, a: str, b: str) -> tuple[float, float] | None:
        """(estimate of mu_a - mu_b, its unscaled variance), or None when the design cannot separate them."""
        c = np.zeros(len(self.coef))
        c[self.archs.index(a)], c[self.archs.index(b)] = 1.0, -1.0
        projected = self.design_rows.T @ (self.design_rows @ (self.cov_unscaled @ c))
        if not np.allclose(projected, c, atol=1e-8):
            return None
        return float(c @ self.coef), float(c @ self.cov_unscaled @ c)


def run_means(runs: Sequence[Run], images: Sequence[str]) -> np.ndarray:
    return np.array([np.mean([r.images[k] for k in images]) for r in runs])


def fit_seed_model(runs: Sequence[Run], images: Sequence[str]) -> SeedModel:
    """Least squares of run means on architecture and seed indicators (the first seed is the baseline)."""
    archs = tuple(sorted({r.arch for r in runs}))
    seeds = tuple(sorted({r.seed for r in runs}))
    x = np.zeros((len(runs), len(archs) + len(seeds) - 1))
    for row, r in enumerate(runs):
        x[row, archs.index(r.arch)] = 1.0
        if r.seed != seeds[0]:
            x[row, len(archs) + seeds.index(r.seed) - 1] = 1.0
    y = run_means(runs, images)
    cov = np.linalg.pinv(x.T @ x)
    coef = cov @ x.T @ y
    rank = int(np.linalg.matrix_rank(x))
    df = len(runs) - rank
    rss = float(((y - x @ coef) ** 2).sum())
    return SeedModel(archs, seeds, coef, cov, x, rss / df if df > 0 else float("nan"), df, len(runs))


# ---- the pair ----


def common_images(runs: Sequence[Run]) -> list[str]:
    """The validation images every run was scored on (runs of one race share them)."""
    if not runs:
        return []
    names = set(runs[0].images)
    for r in runs[1:]:
        names &= set(r.images)
    return sorted(names)


def image_part(a_runs: Sequence[Run], b_runs: Sequence[Run], images: Sequence[str]) -> tuple[float, int]:
    """(variance of the mean difference from image sampling, its degrees of freedom): Student t over images
    of the per-image differences of the two architectures' seed means."""
    diffs = [np.mean([r.images[k] for r in a_runs]) - np.mean([r.images[k] for r in b_runs]) for k in images]
    return float(np.var(diffs, ddof=1) / len(diffs)), len(diffs) - 1


def open_verdict(a: str, b: str, budget: float, reason: str, seeds: tuple[int, int], common: int, images: int,
                 rope: float, difference: float = float("nan")) -> PairVerdict:  # fmt: skip
    nan = float("nan")
    return PairVerdict(
        a, b, budget, "open", reason, difference, nan, nan, nan, nan, nan, nan, nan, nan, nan, seeds, common, images,
        rope,
    )  # fmt: skip


def combine(seed_var: float, seed_df: float, image_var: float, image_df: float) -> tuple[float, float]:
    """Standard error and Welch-Satterthwaite degrees of freedom of a sum of two independent variance parts."""
    total = seed_var + image_var
    denominator = seed_var**2 / seed_df + (image_var**2 / image_df if image_df > 0 else 0.0)
    return math.sqrt(total), (total**2 / denominator if denominator > 0 else float("inf"))


def probabilities(difference: float, se: float, df: float, rope: float) -> tuple[float, float, float]:
    """P(diff > rope), P(|diff| <= rope), P(diff < -rope) for diff ~ difference + se * t_df (flat prior)."""
    if se == 0:
        better, worse = float(difference > rope), float(difference < -rope)
    else:
        better = float(sps.t.sf((rope - difference) / se, df))
        worse = float(sps.t.cdf((-rope - difference) / se, df))
    return better, max(0.0, 1.0 - better - worse), worse


def decide(p_better: float, p_equivalent: float, p_worse: float, margin: Margin) -> Decision:
    """The decision the margin's rule draws from the three probabilities (see the module docstring)."""
    alpha = margin.alpha_per_look
    if p_better > 1 - alpha:
        return "better"
    if p_worse > 1 - alpha:
        return "worse"
    equivalent = max(p_better, p_worse) < alpha if margin.rule == "tost" else p_equivalent > 1 - alpha
    return "equivalent" if equivalent else "open"


def compare(a: str, b: str, runs: Sequence[Run], margin: Margin, model: SeedModel | None = None) -> PairVerdict:
    """The verdict on a - b from every run at one budget (``runs``: all architectures, for the seed noise)."""
    budget = runs[0].budget if runs else float("nan")
    a_runs, b_runs = [r for r in runs if r.arch == a], [r for r in runs if r.arch == b]
    seeds = (len(a_runs), len(b_runs))
    common = len({r.seed for r in a_runs} & {r.seed for r in b_runs})
    images = common_images(runs)
    args = (a, b, budget)
    if not a_runs or not b_runs:
        return open_verdict(*args, "not trained at this budget yet", seeds, common, len(images), margin.rope)
    if len(images) < (2 if margin.images == "random" else 1):
        why = f"not enough data: {len(images)} validation image(s) in common; 2 or more are needed"
        return open_verdict(*args, why, seeds, common, len(images), margin.rope)
    model = model or fit_seed_model(runs, images)
    contrast = model.contrast(a, b)
    if contrast is None:
        why = "not enough data: no seed links the two (train them with a common seed)"
        return open_verdict(*args, why, seeds, common, len(images), margin.rope)
    difference, unscaled = contrast
    if model.df == 0:
        why = (
            "not enough data: the seed noise is not measured (no residual degrees of freedom: it needs 2 or more "
            "seeds for 2 or more architectures at this budget)"
        )
        return open_verdict(*args, why, seeds, common, len(images), margin.rope, difference)
    seed_var = model.residual_var * unscaled
    image_var, image_df = image_part(a_runs, b_runs, images) if margin.images == "random" else (0.0, 0)
    se, df = combine(seed_var, model.df, image_var, image_df)
    p = probabilities(difference, se, df, margin.rope)
    decision = decide(*p, margin)
    half = float(sps.t.ppf(1 - margin.alpha_per_look, df)) * se if se > 0 else 0.0
    reason = (
        f"{common} common seed(s) ({seeds[0]} and {seeds[1]}), {len(images)} images ({margin.images}); seed noise SD "
        f"{model.residual_sd:.3f} dB pooled over {model.runs} runs ({model.df} df)"
    )
    return PairVerdict(
        a, b, budget, decision, reason, difference, difference - half, difference + half, se, df,
        math.sqrt(seed_var), math.sqrt(image_var), *p, seeds, common, len(images), margin.rope,
    )  # fmt: skip


def compare_all(runs: Sequence[Run], pairs: Sequence[tuple[str, str]], margin: Margin) -> list[PairVerdict]:
    """Verdicts on several pairs from the runs of one budget, with one seed model for all."""
    images = common_images(runs)
    model = fit_seed_model(runs, images) if runs and images else None
    return [compare(a, b, runs, margin, model) for a, b in pairs]


# ---- what it would take ----


@dataclass(frozen=True)
class Need:
    """An estimate of the trainings that would decide an open pair, if the difference stays where it is."""

    seeds: int | None  # seeds per architecture needed in all (None: more seeds cannot decide it)
    trainings: int | None  # trainings still to run for it
    why: str = ""

    def text(self) -> str:
        if self.trainings is None:
            return self.why
        return f"about {self.trainings} more training(s) ({self.seeds} seeds each)" + (
            f": {self.why}" if self.why else ""
        )


MAX_SEEDS_ESTIMATE = 100  # beyond this many seeds per architecture a pair is called undecidable by seeds


def need_of(v: PairVerdict, margin: Margin, costlier: str | None = None) -> Need:
    """Seeds that would bring the interval clear of the ROPE's edge, holding the difference and noise fixed.

    With ``costlier`` (the member that costs more), the edge that matters to a race: the costlier member's lead
    against ``+rope`` alone, since it leaves as soon as that lead is shown to be within the ROPE, whether it is
    equivalent or worse (``nas.analysis.race.leave_reason``)."""
    have = min(v.seeds)
    if v.decision != "open":
        return Need(have, 0)
    if not math.isfinite(v.se):
        if math.isfinite(v.difference) or "seed noise" in v.reason:
            return Need(have + 1, 2 * (have + 1) - sum(v.seeds), "a second seed measures the seed noise")
        return Need(None, None, v.reason)
    z = float(sps.norm.ppf(1 - margin.alpha_per_look))  # more seeds bring more degrees of freedom: t tends to z
    lead = abs(v.difference) if costlier is None else v.difference if v.a == costlier else -v.difference
    target = abs(margin.rope - lead) / z  # the standard error that would decide it
    image_var = v.image_se**2
    per_seed = v.seed_se**2 * max(1, v.common_seeds)
    if target <= v.image_se or target == 0:
        return Need(None, None, f"the {v.images} validation images alone leave it open: more images, not seeds")
    seeds = math.ceil(per_seed / (target**2 - image_var))
    if seeds > MAX_SEEDS_ESTIMATE:
        why = f"about {seeds} seeds each: the difference sits near the ROPE's edge, seeds will not decide it"
        return Need(None, None, why)
    seeds = max(seeds, have + 1)
    return Need(seeds, 2 * seeds - sum(min(s, seeds) for s in v.seeds))
