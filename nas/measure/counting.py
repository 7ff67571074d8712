"""Measured cost of a built model: fvcore's and ptflops' counts beside our analytic one."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from dataclasses import asdict, dataclass

import torch
from torch import nn

from backbones import build_model
from space.arch import ArchSpec
from space.cost import DEFAULT_LR_SIZE, analytic_cost, check_lr_size, coarsest_step


@dataclass(frozen=True)
class CostReport:
    """The paper-convention count (analytic) and what the two libraries measure on the built model."""

    macs: int
    params: int
    params_no_bias: int
    fvcore_conv: int
    fvcore_total: int
    ptflops_total: int
    ptflops_params: int
    model_params: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def fvcore_counts(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """fvcore's conv-only count (the paper's convention) and its total."""
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.by_operator().get("conv", 0)), int(analysis.total())


def ptflops_counts(model: nn.Module, shape: tuple[int, int, int]) -> tuple[int, int]:
    """ptflops' MACs (it adds bias, ReLU, pooling and upsampling) and parameter count."""
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()):
        macs, params = get_model_complexity_info(
            model, shape, as_strings=False, print_per_layer_stat=False, backend="pytorch"
        )
    return int(macs or 0), int(params or 0)


COUNT_SIDE = 32  # the libraries count at this LR side when it divides the asked one (exactly scaled up)


def counting_side(spec: ArchSpec, lr_size: int) -> int:
    """The LR side the libraries count at: a divisor of ``lr_size`` that every branch divides, else ``lr_size``.

    Every op of our networks (convs, pooling, upsampling, activations, the bicubic skip) costs a
    fixed amount per output pixel, and with no padding a branch's map shrinks with the input, so
    counts at side s times (lr_size / s)^2 equal the counts at lr_size exactly; the count runs 4-16x
    fewer pixels (``tests/nas/test_cost_cli.py`` checks the equality).
    """
    side = COUNT_SIDE
    return side if side < lr_size and lr_size % side == 0 and side % coarsest_step(spec) == 0 else lr_size


# Backbones whose blocks are alike when every converted layer has one unit: each block adds the same counts.
ALIKE_BLOCKS = frozenset({"srresnet"})


def library_counts(spec: ArchSpec, h: int, w: int) -> tuple[int, int, int, int, int]:
    """fvcore's conv and total counts, ptflops' MACs and parameters, and the parameters PyTorch holds, of the
    built model on an h x w input."""
    torch.manual_seed(0)
    model = build_model(spec).eval()
    with torch.no_grad():
        conv, total = fvcore_counts(model, torch.rand(1, 3, h, w))
    return conv, total, *ptflops_counts(model, (3, h, w)), sum(p.numel() for p in model.parameters())


def counts_by_depth(spec: ArchSpec, h: int, w: int) -> tuple[int, ...]:
    """:func:`library_counts`, read off one block and two where the blocks are alike (``ALIKE_BLOCKS``): the
    network's counts are the one-block network's plus ``blocks - 1`` times the second block's, exactly
    (``tests/nas/test_cost_cli.py`` checks it), and fvcore's trace of 16 blocks costs several times the two."""
    if spec.backbone not in ALIKE_BLOCKS or len(spec.units) != 1 or spec.blocks <= 2:
        return library_counts(spec, h, w)
    one, two = library_counts(spec.resized(blocks=1), h, w), library_counts(spec.resized(blocks=2), h, w)
    return tuple(a + (spec.blocks - 1) * (b - a) for a, b in zip(one, two, strict=True))


@functools.lru_cache(maxsize=256)
def measure(spec: ArchSpec, lr_size: int = DEFAULT_LR_SIZE) -> CostReport:
    """Count the model three ways (the libraries at :func:`counting_side`, scaled up).  A pure function of the
    spec, remembered: a worker counts an architecture once, whatever rungs or seeds it trains."""
    h, w = check_lr_size(spec, lr_size)
    cost = analytic_cost(spec, (h, w))
    side = counting_side(spec, lr_size)
    factor = (lr_size // side) ** 2
    conv, total, pt_macs, pt_params, model_params = counts_by_depth(spec, *((side, side) if factor > 1 else (h, w)))
    return CostReport(
        macs=cost.macs,
        params=cost.params,
        params_no_bias=cost.params_no_bias,
        fvcore_conv=conv * factor,
        fvcore_total=total * factor,
        ptflops_total=pt_macs * factor,
        ptflops_params=pt_params,
        model_params=model_params,
    )
