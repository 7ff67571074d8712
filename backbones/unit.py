"""The one conv-unit factory: any UnitSpec at any layer site becomes a module.

A unit maps a tuple of branch tensors to a tuple of branch tensors.  For speed
the constructor turns the spec into a plan of conv *calls*: entries that read
the same (resampled) input with the same kernel are fused into one conv whose
output channels are sliced per destination, tied entries reuse one module, and
contributions to a branch are summed in place where the tensor is our own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from space.cost import conv_level, conv_out_multiplier
from space.layout import ConvSite
from space.unit import Edge, UnitSpec

Branches = tuple[Tensor, ...]

# How a unit's weights are drawn, recorded with every study: results of another rule are not comparable.
INIT_RULE = "unit-fan-in"  # MSConvUnit._init_as_one_operator


def resample(x: Tensor, op: str, gap: int) -> Tensor:
    """Parameter-free resampling by 2**gap (pixel-shuffle and strided convs are done by the conv call)."""
    f = 2**gap
    if op == "avgpool":
        return F.avg_pool2d(x, f)
    if op == "maxpool":
        return F.max_pool2d(x, f)
    if op == "nearest":
        return F.interpolate(x, scale_factor=float(f), mode="nearest")
    if op == "bilinear":
        return F.interpolate(x, scale_factor=float(f), mode="bilinear", align_corners=False)
    if op == "pixelshuffle":
        return F.pixel_shuffle(x, f)
    raise ValueError(f"resample: unknown op {op!r}")


@dataclass(frozen=True)
class Target:
    """Where a slice of a conv call's output goes, and what happens to it on the way."""

    dst: int
    start: int
    stop: int
    post: str  # resampling after the conv ("none" if none)
    gap: int


@dataclass(frozen=True)
class Call:
    """One conv call: which input, resampled how, through which module, into which outputs."""

    src: int
    pre: str
    gap: int
    module: str
    targets: tuple[Target, ...]


class MSConvUnit(nn.Module):
    """An Eqn-1 transform matrix of convs between scale branches, built from a UnitSpec at one site."""

    def __init__(self, unit: UnitSpec, site: ConvSite) -> None:
        super().__init__()
        self.n_out = unit.outputs.count
        self.convs = nn.ModuleDict()
        self.calls = self._plan(unit, site)
        self.entries = {(c.src, t.dst): (c.module, t.start, t.stop) for c in self.calls for t in c.targets}
        self.identities = tuple(
            (e.src, e.dst, e.resampling, unit.level_gap(e)) for e in unit.edges if e.op == "identity"
        )
        self._init_as_one_operator(unit, site)

    def _init_as_one_operator(self, unit: UnitSpec, site: ConvSite) -> None:
        """PyTorch's default conv init, with the fan-in of the whole unit: every entry into a branch draws
        from U(-1/sqrt(F), 1/sqrt(F)), F the summed fan-in of all the conv entries into that branch.

        With each conv's own fan-in, a branch that sums several entries starts with a larger output (a
        2-scale unit with both cross paths: about 1.4x per layer, compounding through the network), and
        in a short proxy such units stayed at the bicubic skip for longer (how much longer, and what this rule
        gained: BENCHMARKS.md, "Unit initialisation").
        A module whose entries each are the only one into their branch keeps PyTorch's draw untouched.
        """
        fan_in = [0] * self.n_out
        for e in (e for e in unit.edges if e.op == "conv"):
            kernel = e.kernel_in(site.kernel)
            fan_in[e.dst] += unit.inputs.channels(site.c_in, e.src) * kernel * kernel
        slices: dict[str, dict[tuple[int, int], int]] = {}  # module -> output slice -> the largest fan-in it feeds
        for call in self.calls:
            for t in call.targets:
                part = slices.setdefault(call.module, {})
                part[(t.start, t.stop)] = max(part.get((t.start, t.stop), 0), fan_in[t.dst])
        with torch.no_grad():
            for name, parts in slices.items():
                conv = self.convs[name]
                assert isinstance(conv, nn.Conv2d) and conv.bias is not None
                own = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
                if all(f == own for f in parts.values()):
                    continue
                for (start, stop), f in parts.items():
                    conv.weight[start:stop].uniform_(-(f**-0.5), f**-0.5)
                    conv.bias[start:stop].uniform_(-(f**-0.5), f**-0.5)

    def _plan(self, unit: UnitSpec, site: ConvSite) -> tuple[Call, ...]:
        groups: dict[tuple[object, ...], list[Edge]] = {}
        for e in (e for e in unit.edges if e.op == "conv"):
            groups.setdefault(_call_key(unit, e, site), []).append(e)
        calls = []
        for key, edges in groups.items():
            calls.append(self._make_call(unit, site, key, edges))
        return tuple(calls)

    def _make_call(self, unit: UnitSpec, site: ConvSite, key: tuple[object, ...], edges: list[Edge]) -> Call:
        first = edges[0]
        kernel = first.kernel_in(site.kernel)
        cin = unit.inputs.channels(site.c_in, first.src)
        widths = [unit.outputs.channels(site.c_out, e.dst) * conv_out_multiplier(unit, e) for e in edges]
        name = first.tie if first.tie is not None else "e" + "_".join(f"{e.src}{e.dst}" for e in edges)
        stride = 2 ** unit.level_gap(first) if first.resample == "strided" else 1
        if name not in self.convs:
            self.convs[name] = nn.Conv2d(cin, sum(widths), kernel, stride, kernel // 2)
        pre = first.resampling if _resample_before(unit, first) else "none"
        targets, start = [], 0
        for e, width in zip(edges, widths, strict=True):
            post = "none" if pre != "none" or e.resampling in ("none", "strided") else e.resampling
            targets.append(Target(e.dst, start, start + width, post, unit.level_gap(e)))
            start += width
        return Call(first.src, pre, unit.level_gap(first), name, tuple(targets))

    def entry_weight(self, src: int, dst: int) -> tuple[Tensor, Tensor]:
        """Weight and bias of entry ``src -> dst``: views into the (possibly fused or shared) parameters."""
        if (src, dst) not in self.entries:
            raise KeyError(f"no conv entry {src}->{dst}; entries: {sorted(self.entries)}")
        name, start, stop = self.entries[(src, dst)]
        conv = self.convs[name]
        assert isinstance(conv, nn.Conv2d) and conv.bias is not None
        return conv.weight[start:stop], conv.bias[start:stop]

    def forward(self, xs: Branches) -> Branches:
        outs: list[Tensor | None] = [None] * self.n_out
        owned = [False] * self.n_out
        resampled: dict[tuple[int, str, int], Tensor] = {}
        for call in self.calls:
            x = xs[call.src]
            if call.pre != "none":
                key = (call.src, call.pre, call.gap)
                if key not in resampled:
                    resampled[key] = resample(x, call.pre, call.gap)
                x = resampled[key]
            y = self.convs[call.module](x)
            whole = len(call.targets) == 1
            for t in call.targets:
                part = y if whole else y[:, t.start : t.stop]
                if t.post == "nearest" and owned[t.dst]:
                    _add_nearest_(outs[t.dst], part, 2**t.gap)  # type: ignore[arg-type]
                    continue
                if t.post != "none":
                    part = resample(part, t.post, t.gap)
                _accumulate(outs, owned, t.dst, part, fresh=True)
        for src, dst, op, gap in self.identities:
            x = xs[src]
            part = resample(x, op, gap) if op != "none" else x
            _accumulate(outs, owned, dst, part, fresh=op != "none")
        return tuple(_own(o, own) for o, own in zip(outs, owned, strict=True))


def _own(out: Tensor | None, owned: bool) -> Tensor:
    """Never hand back an input tensor itself: callers may modify outputs in place."""
    assert out is not None  # every output branch receives an entry (checked by UnitSpec)
    return out if owned else out.clone()


def _accumulate(outs: list[Tensor | None], owned: list[bool], dst: int, part: Tensor, fresh: bool) -> None:
    """Sum a contribution into branch ``dst``, in place when the running sum is a tensor of our own."""
    current = outs[dst]
    if current is None:
        outs[dst], owned[dst] = part, fresh
    elif owned[dst]:
        current.add_(part)
    else:
        outs[dst], owned[dst] = current + part, True


def _add_nearest_(out: Tensor, low: Tensor, factor: int) -> None:
    """out += nearest_upsample(low) without materialising the upsampled tensor (any memory format)."""
    if torch.jit.is_tracing() and torch.onnx.is_in_onnx_export():  # ONNX drops in-place writes through a view
        out.add_(F.interpolate(low, scale_factor=float(factor), mode="nearest"))
        return
    _n, _c, h, w = low.shape
    blocks = out.unflatten(3, (w, factor)).unflatten(2, (h, factor))
    blocks.add_(low[:, :, :, None, :, None])


def _resample_before(unit: UnitSpec, e: Edge) -> bool:
    return e.resample not in ("none", "strided", "pixelshuffle") and conv_level(unit, e) == unit.outputs.levels[e.dst]


def _call_key(unit: UnitSpec, e: Edge, site: ConvSite) -> tuple[object, ...]:
    """Entries with equal keys read the same tensor through the same kind of conv, so one call serves them."""
    if e.tie is not None:
        return ("tie", e.tie, e.src, e.dst)
    pre = e.resampling if _resample_before(unit, e) else "none"
    kernel = e.kernel_in(site.kernel)
    stride_gap = unit.level_gap(e) if e.resample == "strided" else 0
    pre_gap = unit.level_gap(e) if pre != "none" else 0
    return ("fuse", e.src, pre, pre_gap, kernel, stride_gap)


# A CPU conv kernel computes output channels in blocks of 16 (oneDNN, AVX-512): a conv to 3 channels
# (conv_last, CARN's exit) runs as slowly as one to 16.  Folded, each position of a stride-2 conv computes a
# 2x2 block of output pixels: 12 channels of a 4x4 kernel, the same sums, in about half the time (BENCHMARKS.md,
# "Kept memory, a folded conv_last").
FOLD = 2
FOLD_MAX_OUT = 4  # 2x2 blocks of at most 4 channels fill one 16-channel block


class SingleConv(nn.Module):
    """A plain conv on a single branch: what the factory gives a standard layer.

    In inference mode on the CPU, a channels-last conv to at most 4 channels runs folded (``FOLD``): the same
    values, the output in NCHW.  Training, counting (``torch.no_grad``) and export see the plain conv.
    """

    def __init__(self, site: ConvSite, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(site.c_in, site.c_out, kernel, 1, kernel // 2)
        self._folded: tuple[tuple[int, int, int], Tensor, Tensor] | None = None  # (weights' versions, weight, bias)

    def forward(self, xs: Branches) -> Branches:
        x = xs[0]
        if self._folds(x):
            return (self._folded_conv(x),)
        return (self.conv(x),)

    def _folds(self, x: Tensor) -> bool:
        return (
            self.conv.out_channels <= FOLD_MAX_OUT
            and torch.is_inference_mode_enabled()
            and x.device.type == "cpu"
            and x.is_contiguous(memory_format=torch.channels_last)  # folded NCHW is slower than plain
            and x.shape[-2] % FOLD == 0
            and x.shape[-1] % FOLD == 0
            and not torch.jit.is_tracing()
        )

    def _folded_conv(self, x: Tensor) -> Tensor:
        weight, bias = self._folded_weights()
        y = F.conv2d(x, weight, bias, stride=FOLD, padding=self.conv.padding)
        n, _, h, w = y.shape
        c = self.conv.out_channels
        blocks = y.permute(0, 2, 3, 1).reshape(n, h, w, FOLD, FOLD, c)  # channel (row a, column b, c)
        return blocks.permute(0, 5, 1, 3, 2, 4).reshape(n, c, h * FOLD, w * FOLD)

    def _folded_weights(self) -> tuple[Tensor, Tensor]:
        """The conv's weights spread over a (k+1)x(k+1) kernel, one copy per output pixel of a 2x2 block."""
        weight, bias = self.conv.weight, self.conv.bias
        assert bias is not None
        key = (weight.data_ptr(), weight._version, bias._version)
        if self._folded is None or self._folded[0] != key:
            c, c_in, k, _ = weight.shape
            folded = weight.new_zeros(FOLD * FOLD * c, c_in, k + FOLD - 1, k + FOLD - 1)
            for a in range(FOLD):
                for b in range(FOLD):
                    start = (a * FOLD + b) * c
                    folded[start : start + c, :, a : a + k, b : b + k] = weight
            self._folded = (key, folded.contiguous(memory_format=torch.channels_last), bias.repeat(FOLD * FOLD))
        return self._folded[1], self._folded[2]


def conv_unit(unit: UnitSpec, site: ConvSite) -> nn.Module:
    """The factory: the module for ``unit`` at ``site``.  Backbones call only this."""
    if unit.inputs.count == unit.outputs.count == 1 and len(unit.edges) == 1 and unit.edges[0].op == "conv":
        return SingleConv(site, unit.edges[0].kernel_in(site.kernel))
    return MSConvUnit(unit, site)
