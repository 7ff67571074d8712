"""Every user attribute msnas writes on a trial or a study, named once.

Readers and writers import these names; no other module spells an attribute as a string.
The objectives' names (``psnr``, ``macs``, ``params``, ``latency_ms``) are also the user
attributes that hold them, so they come from the study definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studies import LATENCY, MACS, PARAMS, PSNR

# ---- a search trial: what it is ----
SPEC = "spec"  # canonical JSON of the architecture
SPEC_HASH = "spec_hash"
PRESET = "preset"  # the named paper variant this spec is, if any
QUEUED = "queued"  # True on trials queued by nas.search (the named variants), not drawn by the sampler
EXTRA_SPEC = "extra_spec"  # a named point outside the space: its spec JSON (the trial has no params; samplers skip it)

# ---- its cost, known before anything is built ----
MACS_KEY = MACS.name
PARAMS_KEY = PARAMS.name
PARAMS_NO_BIAS = "params_no_bias"

# ---- why it has no result ----
REJECTED = "rejected"  # PRUNED before training (over budget, repeat within a halving batch)
FAIL_REASON = "fail_reason"  # FAIL: the exception's class and message
STOPPED_AT_RUNG = "stopped_at_rung"  # PRUNED by successive halving after this rung
STOPPED_AT = "stopped_at"  # PRUNED by the curve stopper: the iteration its run stopped at
DUPLICATE_OF = "duplicate_of"  # a repeated architecture: the trial whose result it copies
WORKER_HOST = "worker_host"  # the machine and process that run the trial: a RUNNING trial whose process
WORKER_BOOT = "worker_boot"  # (the machine: its name and the kernel's boot id, as machines may share a name)
WORKER_PID = "worker_pid"  # on this machine is gone is failed at once by the next run (no heartbeat wait)

# ---- what the proxy measured ----
PSNR_KEY = PSNR.name
SSIM = "ssim"
VAL_CURVE = "val_curve"  # [[iterations, validation PSNR], ...] at each quarter of the proxy run: the learning curve
LOSS_CURVE = "loss_curve"  # [[iterations, mean training L1 loss over the tenth of the run ending there], ...]
PER_IMAGE_PSNR = "per_image_psnr"  # validation image name -> PSNR (dB): paired differences between architectures
BICUBIC_PSNR = "bicubic_psnr"
GAIN = "gain"
PROXY = "proxy"  # the ProxyBudget as a dict
TRAIN_SECONDS = "train_seconds"
SAMPLES_PER_SECOND = "samples_per_second"
DEVICE = "device"
SEED = "seed"
DATA = "data"  # which data trained and validated it (nas.sr.data_identity): folders, image counts, content hash
VERSIONS = "versions"
REGION_RULES = "region_rules"  # which rules classed the psnr_<class> regions (nas.sr.region_classes.RULES)
FVCORE_TOTAL = "fvcore_total"
PTFLOPS_TOTAL = "ptflops_total"
LATENCY_MS = LATENCY.name
LATENCY_RUNTIME = "latency_runtime"  # what latency_ms timed: onnxruntime (the exported file) or eager PyTorch
LATENCY_SETUP = "latency_setup"  # how: threads, OpenMP spin count and wait policy, whether freed memory was kept
ZC_SECONDS = "zc_seconds"  # the time all zero-cost scores took (each score is zc_key(name))
ZC_PLAN = "zero_cost_plan"  # which scores a trial got and their planned share of its training (not zc_: no score)

# A repeat copies these from the trial it repeats (its own spec, cost and name are recorded anew; it trained
# nothing, so it has no training time).
MEASURED = (
    FVCORE_TOTAL,
    PTFLOPS_TOTAL,
    PSNR_KEY,
    SSIM,
    PER_IMAGE_PSNR,
    VAL_CURVE,
    LOSS_CURVE,
    BICUBIC_PSNR,
    GAIN,
    PROXY,
    DEVICE,
    SEED,
    DATA,
    VERSIONS,
    REGION_RULES,
    LATENCY_MS,
    LATENCY_RUNTIME,
    LATENCY_SETUP,
)


def curve_at_key(iterations: int) -> str:
    """A running trial's validation PSNR at the curve stopper's check, for every worker to rank against."""
    return f"curve_at_{iterations}"


def rung_key(rung: int) -> str:
    """Successive halving's result at ``rung`` (a dict of psnr and iterations)."""
    return f"rung_{rung}"


# ---- a re-training record in the companion study NAME.fidelity ----
WORK_KEY = "key"  # architecture | seed | exact budget: what makes a re-training unique
SOURCE_TRIAL = "source_trial"
PICK_REASON = "reason"  # why it was picked: named, front or random
BUDGET_X = "budget_x"
PROXY_PSNR = "proxy_psnr"  # the source trial's proxy PSNR
REUSED_TRIAL = "reused_trial"  # the 1x seed-0 CPU record that is the proxy run itself
NESTED = "nested"  # a nested WSD run's record: its ladder (iterations) and its own iterations and seconds
CLAIMED_WORK = "claimed_key"  # a race's RUNNING trial: the work key it claimed and trains (WORK_KEY once COMPLETE)

# ---- study attributes ----
STUDY_DEFINITION = "study_definition"  # the definition's description
DEFINITION_DATA = "definition_data"  # the whole definition (studies.files.study_to_data): tools need no file
DEFINITION = "definition"  # the definition's name in studies/
SAMPLER = "sampler"
SOURCE_STUDY = "source_study"  # on a companion study: the study it belongs to
STUDY_PROXY = "proxy_budget"  # the proxy budget the study trains with (ProxyBudget.as_dict()): one per study
CREATION = "creation"  # a random token set when the study is made: claims of a deleted namesake are not its claims
INIT_RULE = "init_rule"  # backbones.INIT_RULE at creation: trials trained under another rule are not comparable
VERDICT = "verdict"  # the last nas.verdict's decisions (verdict.json's data): nas.report shows them
STUDY_DATA = "study_data"  # the data identity the study trains on (as DATA); none: made before, on the bundled photos


ZC_PREFIX = "zc_"
REGION_PREFIX = "psnr_"  # validation PSNR over the pixels of one region class (nas.sr.region_scores.CLASSES)


def zc_key(name: str) -> str:
    """The user attribute of one zero-cost score (``nas.measure.zero_cost.ZC_NAMES``)."""
    return ZC_PREFIX + name


def zc_keys(attrs: Mapping[str, Any]) -> list[str]:
    """The zero-cost scores among a trial's user attributes (not their timing)."""
    return sorted(k for k in attrs if k.startswith(ZC_PREFIX) and k != ZC_SECONDS)


def region_key(region: str) -> str:
    """The user attribute of the validation PSNR over one region class's pixels (``psnr_detail``)."""
    return REGION_PREFIX + region


def region_keys(attrs: Mapping[str, Any]) -> list[str]:
    """The per-region PSNRs among a trial's user attributes."""
    return sorted(k for k in attrs if k.startswith(REGION_PREFIX))


def fidelity_summary_key(budget_x: float) -> str:
    """Where nas.fidelity leaves its statistics on the source study."""
    return f"fidelity_x{budget_x:g}"
