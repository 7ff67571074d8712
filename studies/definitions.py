"""Study definitions: typed data that the search runner (``nas.search``) reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from space.choices import SpaceDef, UnitChoices
from studies.budget import CPU_PROXY, GPU_PROXY, ProxyBudget

Sampler = Literal["nsga2", "tpe", "random"]
Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Objective:
    """One objective of a study: its metric name (also the trial's user attribute) and direction."""

    name: str
    direction: Direction
    label: str  # how figures and tables name it

    @property
    def maximise(self) -> bool:
        return self.direction == "maximize"


PSNR = Objective("psnr", "maximize", "PSNR (dB)")
MACS = Objective("macs", "minimize", "MACs")
PARAMS = Objective("params", "minimize", "params")
LATENCY = Objective("latency_ms", "minimize", "CPU latency (ms)")
BASE_OBJECTIVES = (PSNR, MACS, PARAMS)  # every msnas study has these first, in this order
OBJECTIVES = tuple(o.name for o in BASE_OBJECTIVES)
DIRECTIONS = tuple(o.direction for o in BASE_OBJECTIVES)


# dB: below the proxy's seed SD, above that of 10x the proxy (BENCHMARKS.md, "Design-space analysis of the `ms3`
# space"); the paper's gaps are 0.01-0.17
DEFAULT_ROPE = 0.05


@dataclass(frozen=True)
class StudyDef:
    """What to search, under which budget, with which sampler."""

    name: str
    description: str
    space: SpaceDef
    max_gmacs: float | None = None  # budget on the full-size network, paper convention (128x128 LR)
    max_mparams: float | None = None
    cpu_proxy: ProxyBudget = CPU_PROXY
    gpu_proxy: ProxyBudget = GPU_PROXY
    sampler: Sampler = "nsga2"
    n_trials: int = 40
    latency: bool = False  # add measured CPU latency as a fourth objective
    subspaces: dict[str, str] = field(default_factory=dict)  # name -> predicate, for nas.analyze
    rope: float = DEFAULT_ROPE  # dB: PSNR differences within this are practically equivalent (verdicts, fronts)
    named: dict[str, str] = field(default_factory=dict)  # a researcher's own named points: name -> spec JSON
    # the most the zero-cost scores may cost, as a share of the proxy training (nas.measure.zero_cost.plan_for
    # keeps the most telling that fit; 0: none)
    zero_cost_share: float = 0.1

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """What the search optimises, in the order of a trial's values."""
        return (*BASE_OBJECTIVES, LATENCY) if self.latency else BASE_OBJECTIVES

    def proxy_for(self, device_type: str) -> ProxyBudget:
        return self.gpu_proxy if device_type == "cuda" else self.cpu_proxy

    def over_cost_limit(self, macs: int, params: int) -> str:
        """Why a network of this cost lies outside the study's MACs/params limits ("" when it is inside)."""
        if self.max_gmacs is not None and macs > self.max_gmacs * 1e9:
            return f"over budget: {macs / 1e9:.2f} G MACs > {self.max_gmacs} G"
        if self.max_mparams is not None and params > self.max_mparams * 1e6:
            return f"over budget: {params / 1e6:.3f} M params > {self.max_mparams} M"
        return ""


PAPER_2SCALE = UnitChoices(scales=(1, 2))
# The paper's families as predicates over spec features (space.features), for nas.analyze.
PAPER_SUBSPACES = {
    "MS": "scales == 2 and cross == 'none'",
    "MS2": "scales == 2 and cross != 'none' and not shared",
    "MS3": "scales == 2 and cross != 'none' and shared",
}

STUDIES: dict[str, StudyDef] = {}


def register(study: StudyDef) -> StudyDef:
    """Add a study; names are unique."""
    if study.name in STUDIES:
        raise ValueError(f"study {study.name!r} defined twice")
    STUDIES[study.name] = study
    return study


register(
    StudyDef(
        "ms3",
        "the paper's 2-scale SRResNet space: Standard, MS, MS2 (w/o LH, HL), MS2, MS3, MS3-L are points of it",
        SpaceDef("srresnet", PAPER_2SCALE),
        max_gmacs=42.76,
        n_trials=40,
        subspaces=PAPER_SUBSPACES,
    )
)
register(
    StudyDef(
        "branches",
        "MS3-style units with 1-4 scales of 32 channels each, 1x1 paths between all pairs or neighbours (Table 3)",
        SpaceDef(
            "srresnet",
            UnitChoices(
                scales=(1, 2, 3, 4),
                paths=("none", "both"),
                cross_kernel=(1,),
                shared=(True,),
                connectivity=("all", "neighbours"),
            ),
            width_per_branch=32,
        ),
        n_trials=30,
        subspaces={f"s{n}": f"scales == {n}" for n in (1, 2, 3, 4)},
    )
)
register(
    StudyDef(
        "octave",
        "octave convolution: share of channels at half resolution and cross-path kernels (Eqn 3)",
        SpaceDef(
            "srresnet",
            UnitChoices(paths=("both",), cross_kernel=(1, 3, 5), shared=(False,), low_share=(0.125, 0.25, 0.5, 0.75)),
        ),
        n_trials=30,
        subspaces={f"k{k}": f"cross_kernel == {k}" for k in (1, 3, 5)},
    )
)
register(
    StudyDef(
        "carn-ms3",
        "the 2-scale space on the CARN backbone (Table 4's CARN rows)",
        SpaceDef("carn", UnitChoices(scales=(1, 2), cross_kernel=(1, 3, None))),
        max_gmacs=35.52,
        # CARN's tied MS3 units learn slowly: at 300 iterations ms3-l stays on the bicubic plateau whatever the seed,
        # and twice the iterations lift it (BENCHMARKS.md, "A CARN proxy that learns")
        cpu_proxy=CPU_PROXY.scaled(2),
        n_trials=40,
        subspaces=PAPER_SUBSPACES,
    )
)
register(
    StudyDef(
        "layerwise",
        "each converted layer picks its own 2-scale matrix (paths, kernel, sharing, resampling): beyond the paper",
        SpaceDef(
            "srresnet",
            UnitChoices(
                scales=(2,), down=("avgpool", "maxpool", "strided"), up=("nearest", "bilinear", "pixelshuffle")
            ),
            layerwise=True,
        ),
        max_gmacs=30.0,
        n_trials=200,
        subspaces={"with_hl": "has_hl", "without_hl": "not has_hl", "shared": "shared", "unshared": "not shared"},
    )
)
register(
    StudyDef(
        "tiny",
        "a small space and budget for tests: 2-scale x2 SRResNet with one block, a few seconds a trial",
        SpaceDef(
            "srresnet",
            UnitChoices(scales=(1, 2), paths=("none", "both"), cross_kernel=(1,)),
            upscale=2,
            width=16,
            blocks=1,
        ),
        subspaces={"shared": "shared", "unshared": "scales == 2 and not shared"},
        cpu_proxy=ProxyBudget(iterations=12, batch=4, patch=12, peak_lr=2e-3, warmup=2, width=None, blocks=None),
        gpu_proxy=ProxyBudget(iterations=12, batch=4, patch=12, peak_lr=2e-3, warmup=2, width=None, blocks=None),
        n_trials=4,
        zero_cost_share=2.0,  # every score, for the tests to see each recorded: milliseconds, though 12 steps' worth
    )
)
