"""Differences, not levels: two architectures trained with one seed and validated on the same images.

Every proxy run records its PSNR per validation image (``per_image_psnr``).  The PSNR of two
architectures trained with the same seed (the same batches in the same order) on the same images
is compared image by image: the mean of the per-image differences is the difference of the mean
PSNRs, and its interval is Student's t over images, widened by the seed noise when seed repeats
measured it (``se^2 = sd_images^2 / n + seed_sd^2 * (1/k_a + 1/k_b)``, k the runs averaged).  A
difference whose interval excludes 0 is resolved; with few validation images the interval is
honestly wide (t with n - 1 degrees of freedom).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from nas.confidence import LEVEL, LEVEL_TEXT
from nas.study import keys
from nas.study.records import ArchRecord
from studies import DEFAULT_ROPE


@dataclass(frozen=True)
class PairedDifference:
    """PSNR of ``a`` minus PSNR of ``b`` (dB) with its 95 % interval."""

    a: str
    b: str
    mean: float
    low: float
    high: float
    n_images: int
    seed_sd: float

    @property
    def resolved(self) -> bool:
        """Whether the interval excludes 0: the sign of the difference is known at 95 %."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "resolved": self.resolved}


def paired_difference(
    a: Mapping[str, float],
    b: Mapping[str, float],
    names: tuple[str, str] = ("a", "b"),
    seed_sd: float = 0.0,
    runs: tuple[int, int] = (1, 1),
) -> PairedDifference:
    """The per-image paired difference of two runs' PSNRs over the images both were validated on."""
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        raise ValueError(f"paired difference: {len(common)} validation images in common; 2 or more are needed")
    diffs = np.array([a[k] - b[k] for k in common], dtype=float)
    n = len(diffs)
    se = np.sqrt(diffs.var(ddof=1) / n + seed_sd**2 * (1 / runs[0] + 1 / runs[1]))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1) * se)
    mean = float(diffs.mean())
    return PairedDifference(names[0], names[1], mean, mean - half, mean + half, n, seed_sd)


def per_image(record: ArchRecord) -> dict[str, float] | None:
    """The record's per-image validation PSNR, if its trial recorded one."""
    value = record.trial.user_attrs.get(keys.PER_IMAGE_PSNR)
    return {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else None


def against_best(records: Sequence[ArchRecord], seed_sd: float = 0.0) -> list[PairedDifference]:
    """Every architecture against the one with the highest PSNR, among runs of the best's seed and images."""
    usable = [(r, images) for r in records if (images := per_image(r)) is not None]
    if len(usable) < 2:
        return []
    best, best_images = max(usable, key=lambda pair: pair[0].psnr)
    return [
        paired_difference(images, best_images, (r.name, best.name), seed_sd)
        for r, images in usable
        if r is not best and r.seed == best.seed and len(set(images) & set(best_images)) >= 2
    ]


def lines(diffs: Sequence[PairedDifference], rope: float = DEFAULT_ROPE) -> list[str]:
    """One line per difference, largest first, decided within the ROPE; says what the interval rests on."""
    if not diffs:
        return []
    n, sd = diffs[0].n_images, diffs[0].seed_sd
    rests = f"seed noise SD {sd:.3f} dB included" if sd > 0 else "one seed: the seed noise is not in it"
    out = [f"paired per-image differences against {diffs[0].b} (same seed, {n} validation images,"
           f" {LEVEL_TEXT} t interval; {rests}; ROPE +-{rope:g} dB):"]  # fmt: skip
    for d in sorted(diffs, key=lambda d: -d.mean):
        out.append(f"  {d.a:<18} {d.mean:+.3f} dB [{d.low:+.3f}, {d.high:+.3f}]  {within(d, rope)}")
    return out


def within(d: PairedDifference, rope: float) -> str:
    """The difference read against the ROPE: beyond it, inside it, or not decided."""
    if d.high < -rope:
        return f"worse by more than {rope:g} dB"
    if d.low > rope:
        return f"better by more than {rope:g} dB"
    if -rope < d.low and d.high < rope:
        return f"practically equivalent (within +-{rope:g} dB)"
    return "not decided"
