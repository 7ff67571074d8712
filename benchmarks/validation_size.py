"""How many validation images does a ranking need?  The default 2 photos against a larger set, same networks.

``python -m benchmarks.validation_size --study ms3@sqlite:///runs/bench19/ms3_val19.db --subset chelsea,coffee
[--same ms3@sqlite:///runs/bench19/ms3.db]``

``--study`` is a search validated on a large folder that holds the default photos too (``nas.search --val-data``),
so each network's PSNR on ``--subset`` is part of its PSNR on the whole folder: one training, two validation sets.
``--same`` names a study trained the same way on the default photos; its PSNRs must equal the subset's (a check
that the networks are the same) and the difference of trial seconds is what the larger set costs.

Printed: the rank agreement of the subset's mean PSNR with the whole set's (Kendall tau, Spearman rho, bootstrap
95 % intervals); for every pair of architectures the paired per-image difference (t interval) on the subset, on
the rest and on all, and how many pairs each resolves; the per-image SD of differences and the images a paired
comparison needs to resolve 0.05 and 0.1 dB.  Per-image intervals hold image sampling only, not seed noise.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from benchmarks.machine import describe
from nas.analysis.paired import PairedDifference, paired_difference, per_image
from nas.analysis.proxy_stats import rank_correlations, seeds_needed
from nas.study import keys
from nas.study.experimental import experimental_ok
from nas.study.records import ArchRecord, arch_records
from nas.study.storage import open_existing_study

DELTAS = (0.05, 0.1)


def records_of(text: str) -> list[ArchRecord]:
    """The distinct architectures of ``NAME@URL``."""
    name, _, url = text.partition("@")
    if not url:
        raise SystemExit(f"{text!r}: give a study as NAME@URL")
    with experimental_ok():
        return arch_records(open_existing_study(url, name))


def images_of(records: Sequence[ArchRecord]) -> dict[str, dict[str, float]]:
    """spec hash -> image name -> PSNR, for architectures whose trial recorded per-image PSNRs."""
    out = {r.spec_hash: found for r in records if (found := per_image(r)) is not None}
    if len(out) < 3:
        raise SystemExit(f"{len(out)} architectures with per-image PSNRs; 3 or more are needed")
    return out


def mean_over(images: Mapping[str, float], names: Sequence[str]) -> float:
    return float(np.mean([images[n] for n in names]))


def pair_differences(
    images: Mapping[str, Mapping[str, float]], names: Sequence[str]
) -> list[tuple[PairedDifference, np.ndarray]]:
    """Every pair's paired difference over ``names``, with its per-image differences."""
    out = []
    for a, b in itertools.combinations(sorted(images), 2):
        pa, pb = {n: images[a][n] for n in names}, {n: images[b][n] for n in names}
        out.append((paired_difference(pa, pb, (a, b)), np.array([pa[n] - pb[n] for n in names])))
    return out


def resolution_line(label: str, diffs: list[tuple[PairedDifference, np.ndarray]]) -> str:
    resolved = sum(d.resolved for d, _ in diffs)
    half = np.median([(d.high - d.low) / 2 for d, _ in diffs])
    sd = np.sqrt(np.mean([np.var(x, ddof=1) for _, x in diffs]))
    needs = ", ".join(f"{delta:g} dB: {seeds_needed(float(sd), delta, paired=True)}" for delta in DELTAS)
    return (
        f"  {label:<28} {diffs[0][0].n_images:>3} images  {resolved:>3} of {len(diffs)} pairs resolved  "
        f"median half-width {half:.3f} dB  per-image SD of differences {sd:.3f} dB  (images needed, {needs})"
    )


def check_same(same: Sequence[ArchRecord], images: Mapping[str, Mapping[str, float]], subset: Sequence[str]) -> None:
    """The subset's PSNRs equal those of the study trained alike on the default photos; the seconds it saved."""
    by_hash = {r.spec_hash: r for r in same}
    shared = [h for h in images if h in by_hash and per_image(by_hash[h]) is not None]
    worst = max(abs(images[h][n] - per_image(by_hash[h])[n]) for h in shared for n in subset)  # type: ignore[index]
    print(f"same networks: {len(shared)} architectures in both; largest subset PSNR difference {worst:.2e} dB")


def wall_seconds(record: ArchRecord) -> float:
    """The trial's start to finish (training, validations, zero-cost scores): train_seconds leaves validation out."""
    t = record.trial
    assert t.datetime_start is not None and t.datetime_complete is not None
    return (t.datetime_complete - t.datetime_start).total_seconds()


def seconds_line(large: Sequence[ArchRecord], same: Sequence[ArchRecord], extra_images: int) -> str:
    """What validating on the larger set cost per trial, from the two studies' trial seconds side by side."""
    small = {r.spec_hash: wall_seconds(r) for r in same}
    pairs = [(wall_seconds(r), small[r.spec_hash]) for r in large if r.spec_hash in small]
    extra = np.median([a - b for a, b in pairs])
    base = np.median([b for _, b in pairs])
    passes = len(large[0].trial.user_attrs.get(keys.VAL_CURVE, [])) or 1
    return (
        f"validation cost: {extra:+.1f} s per trial (median over {len(pairs)}) for {extra_images} more images"
        f" x {passes} validations, against {base:.1f} s per trial on the default photos ({extra / base:+.0%})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", required=True, help="NAME@URL of a search validated on a large folder")
    p.add_argument("--subset", default="chelsea,coffee", help="images of that folder that form the small set")
    p.add_argument("--same", default=None, help="NAME@URL of the same search validated on the small set alone")
    args = p.parse_args()
    large = records_of(args.study)
    images = images_of(large)
    every = sorted(set.intersection(*(set(v) for v in images.values())))
    subset = [n for n in args.subset.split(",") if n]
    if missing := sorted(set(subset) - set(every)):
        raise SystemExit(f"--subset: {', '.join(missing)} not among the validation images ({', '.join(every)})")
    rest = [n for n in every if n not in subset]
    print(f"machine: {describe()}")
    print(f"{len(images)} architectures; {len(every)} images: subset {', '.join(subset)}; rest {len(rest)}")
    small_means = [mean_over(images[h], subset) for h in sorted(images)]
    for label, names in (("rest", rest), ("all", every)):
        c = rank_correlations(
            small_means, [mean_over(images[h], names) for h in sorted(images)], rng=np.random.default_rng(0)
        )
        print(
            f"subset mean vs {label} mean: Kendall {c.kendall_tau:+.2f} [{c.tau_low:+.2f}, {c.tau_high:+.2f}],"
            f" Spearman {c.spearman_rho:+.2f} [{c.rho_low:+.2f}, {c.rho_high:+.2f}]"
        )
    print("paired per-image differences of every pair (same seed; 95 % t interval):")
    for label, names in (("subset (default photos)", subset), ("rest", rest), ("all", every)):
        print(resolution_line(label, pair_differences(images, names)))
    if args.same:
        same = records_of(args.same)
        check_same(same, images, subset)
        print(seconds_line(large, same, len(rest)))


if __name__ == "__main__":
    main()
