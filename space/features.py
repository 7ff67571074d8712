"""Named features of an architecture, and a tiny safe predicate language over them.

A design-space sub-space is a predicate over a spec's features, never a list of
presets: ``"shared and has_hl and has_lh"`` selects MS3-style units wherever they
come from.  Features describe the *body*: the converted layers strictly between
FirstConv and LastConv (``ArchSpec.inner_sites``).  FirstConv/LastConv always
resample into/out of the branches, so they would make every multi-scale spec look
as if it had cross-scale paths; they are left out (their cost is still in
``macs``/``params``).

Predicates are parsed with :mod:`ast` and evaluated by walking the tree; only
``and``/``or``/``not``, comparisons (``== != < <= > >= in not in``, chained),
feature names, and literal constants (and tuples/lists of them) are accepted.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from space.arch import ArchSpec
from space.cost import DEFAULT_LR_SIZE, analytic_cost
from space.errors import SpecError
from space.layout import ConvSite
from space.unit import Edge, UnitSpec

FEATURE_DOCS: dict[str, str] = {
    "backbone": "backbone name ('srresnet', 'carn')",
    "upscale": "super-resolution factor (2, 3, 4)",
    "width": "channels of the backbone's layers",
    "blocks": "depth in the backbone's blocks (residual blocks / cascading blocks)",
    "scales": "number of branches of the converted units (1 = single-scale)",
    "split": "channel parts of the branches, high to low, e.g. '1', '1:1', '3:1', '2:1:1'",
    "low_share": "share of channels in branches below full resolution (0.0 for one scale)",
    "has_hl": "some converted layer has a high->low entry (f_HL, Eqn 1: dst coarser than src)",
    "has_lh": "some converted layer has a low->high entry (f_LH, Eqn 1: dst finer than src)",
    "cross": "which cross-scale paths exist: 'none', 'down' (HL only), 'up' (LH only), 'both'",
    "shared": "every converted layer ties all its intra-scale (diagonal) convs to one weight; False for 1 scale",
    "cross_kernel": (
        "kernel of the cross-scale convs as run: an int if one everywhere; 'layer' if each follows its layer's "
        "kernel and those differ; 'identity' if none convolves; 'mixed' otherwise; None without cross paths"
    ),
    "down": "resampling op of the high->low entries ('avgpool', 'maxpool', 'strided'), 'mixed', or None",
    "up": "resampling op of the low->high entries ('nearest', 'bilinear', 'pixelshuffle'), 'mixed', or None",
    "layerwise": "the spec stores different units for different converted layers",
    "macs": f"conv multiply-adds of the whole network for one {DEFAULT_LR_SIZE}x{DEFAULT_LR_SIZE} LR input",
    "params": "parameters of the whole network, biases included",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_DOCS)
BOOLEAN_FEATURES = frozenset({"has_hl", "has_lh", "shared", "layerwise"})
CROSS = {(False, False): "none", (True, False): "down", (False, True): "up", (True, True): "both"}


def features(spec: ArchSpec, lr_size: int | tuple[int, int] = DEFAULT_LR_SIZE) -> dict[str, Any]:
    """The named features of a spec (keys in ``FEATURE_NAMES`` order), for sub-space predicates."""
    body = body_units(spec)
    units = [u for _, u in body]
    has_hl = any(u.direction(e) == "down" for u in units for e in u.edges)
    has_lh = any(u.direction(e) == "up" for u in units for e in u.edges)
    branches = spec.units[0].inputs
    cost = analytic_cost(spec, lr_size)
    return {
        "backbone": spec.backbone,
        "upscale": spec.upscale,
        "width": spec.width,
        "blocks": spec.blocks,
        "scales": spec.scales,
        "split": ":".join(str(p) for p in branches.split),
        "low_share": float(sum((branches.fraction(i) for i, v in enumerate(branches.levels) if v > 0), Fraction(0))),
        "has_hl": has_hl,
        "has_lh": has_lh,
        "cross": CROSS[(has_hl, has_lh)],
        "shared": spec.scales > 1 and all(_ties_intra(u) for u in units),
        "cross_kernel": _cross_kernel(body),
        "down": _one_or_mixed(e.resampling for u in units for e in u.edges if u.direction(e) == "down"),
        "up": _one_or_mixed(e.resampling for u in units for e in u.edges if u.direction(e) == "up"),
        "layerwise": len(spec.units) > 1,
        "macs": cost.macs,
        "params": cost.params,
    }


def body_units(spec: ArchSpec) -> tuple[tuple[ConvSite, UnitSpec], ...]:
    """The converted layers strictly between FirstConv and LastConv, with their units."""
    lo, hi = spec.layout.index(spec.first), spec.layout.index(spec.last)
    return spec.site_units[lo + 1 : hi]


def _ties_intra(unit: UnitSpec) -> bool:
    diagonal = [e for e in unit.edges if e.src == e.dst]
    ties = {e.tie for e in diagonal}
    return len(diagonal) > 1 and len(ties) == 1 and None not in ties


def _cross_kernel(body: Iterable[tuple[ConvSite, UnitSpec]]) -> int | str | None:
    """See ``FEATURE_DOCS['cross_kernel']``; site units hold a kernel equal to the layer's as None."""
    run: set[int | str] = set()
    follows_layer = True
    for site, unit in body:
        for e in unit.edges:
            if unit.direction(e) != "same":
                run.add(_kernel_as_run(e, site))
                follows_layer = follows_layer and e.op == "conv" and e.kernel is None
    if not run:
        return None
    if len(run) == 1:
        return run.pop()
    return "layer" if follows_layer else "mixed"


def _kernel_as_run(e: Edge, site: ConvSite) -> int | str:
    if e.op == "identity":
        return "identity"
    return e.kernel_in(site.kernel)


def _one_or_mixed(values: Iterable[str]) -> str | None:
    seen = set(values)
    if not seen:
        return None
    return seen.pop() if len(seen) == 1 else "mixed"


# --- the predicate language -------------------------------------------------------------------------------------

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_OP_TEXT: dict[type[ast.cmpop], str] = {ast.Is: "is", ast.IsNot: "is not"}
_CONSTANT_TYPES = (bool, int, float, str, type(None))
_CONSTRUCT_NAMES: dict[type[ast.AST], str] = {
    ast.Call: "a call",
    ast.Attribute: "an attribute",
    ast.Subscript: "a subscript",
    ast.BinOp: "arithmetic",
    ast.UnaryOp: "arithmetic",
    ast.Lambda: "a lambda",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment expression",
    ast.JoinedStr: "an f-string",
    ast.Starred: "a starred expression",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.Compare: "a comparison used as a value",
    ast.Constant: "a constant used as true/false",
    ast.BoolOp: "and/or used as a value",
}
_GRAMMAR = "use and/or/not, comparisons (== != < <= > >= in, not in), feature names and constants"


@dataclass(frozen=True)
class Predicate:
    """A compiled sub-space predicate: ``pred(features(spec))`` says whether the spec belongs."""

    text: str
    tree: ast.expr = field(compare=False, repr=False)

    def __call__(self, feats: Mapping[str, Any]) -> bool:
        return _truth(self.tree, feats)


def compile_predicate(text: str) -> Predicate:
    """Parse and check a predicate such as ``"shared and cross_kernel == 1"``; bad ones raise a SpecError."""
    source = text.strip()
    if not source:
        raise SpecError("predicate", f"{text!r} is empty; {_GRAMMAR}")
    if len(source) > MAX_PREDICATE_CHARS:
        raise SpecError("predicate", f"{len(source)} characters (at most {MAX_PREDICATE_CHARS})")
    try:
        tree = ast.parse(source, mode="eval").body
        _check_bool(tree, source)
        _depth(tree)
    except SyntaxError as err:
        where = f" at column {err.offset}" if err.offset else ""
        raise SpecError("predicate", f"{source!r} is not an expression ({err.msg}{where})") from None
    except RecursionError:
        raise SpecError("predicate", f"nested more than {MAX_PREDICATE_DEPTH} deep") from None
    return Predicate(source, tree)


MAX_PREDICATE_CHARS = 2000
MAX_PREDICATE_DEPTH = 50  # evaluation walks the tree recursively


def _depth(node: ast.AST, level: int = 0) -> None:
    """RecursionError when the tree is deeper than MAX_PREDICATE_DEPTH (evaluating it would recurse that deep)."""
    if level > MAX_PREDICATE_DEPTH:
        raise RecursionError
    for child in ast.iter_child_nodes(node):
        _depth(child, level + 1)


def parse_subspaces(items: Sequence[str]) -> dict[str, Predicate]:
    """Named sub-spaces from command-line items ``NAME=PREDICATE``, in the order given."""
    out: dict[str, Predicate] = {}
    for item in items:
        name, pred = _split_item(item)
        if name in out:
            raise SpecError(f"subspace {name}", f"named twice ({out[name].text!r} and {pred!r})")
        try:
            out[name] = compile_predicate(pred)
        except SpecError as err:
            raise err.within(f"subspace {name}") from None
    return out


def _split_item(item: str) -> tuple[str, str]:
    name, eq, pred = item.partition("=")
    name = name.strip()
    if not eq or pred.startswith("="):
        raise SpecError("subspace", f"{item!r} must read NAME=PREDICATE, e.g. ms3='shared and has_hl'")
    if not re.fullmatch(r"[\w.+-]+", name):
        raise SpecError("subspace", f"{item!r}: the name must be a non-empty word (letters, digits, _ . + -)")
    return name, pred


def _fail(node: ast.AST, text: str, what: str, allowed: Iterable[object] | None = None, hint: str = "") -> SpecError:
    col = getattr(node, "col_offset", -1) + 1
    return SpecError("predicate", f"{text!r}: {what} at column {col}{hint}", allowed)


def _unsupported(node: ast.AST, text: str) -> SpecError:
    construct = _CONSTRUCT_NAMES.get(type(node), type(node).__name__)
    segment = ast.get_source_segment(text, node) or type(node).__name__
    return _fail(node, text, f"{construct} ({segment}) is not allowed", hint=f"; {_GRAMMAR}")


def _check_bool(node: ast.expr, text: str) -> None:
    """A node in a true/false position: and/or, not, a comparison, a boolean feature, True/False."""
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check_bool(value, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_bool(node.operand, text)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise _fail(node, text, f"the operator {_OP_TEXT.get(type(op), type(op).__name__)!r} is not allowed")
        for operand in (node.left, *node.comparators):
            _check_value(operand, text)
    elif isinstance(node, ast.Name):
        _check_name(node, text)
        if node.id not in BOOLEAN_FEATURES:
            raise _fail(node, text, f"{node.id!r} is not true/false", hint=f"; compare it, e.g. {node.id} == ...")
    elif not (isinstance(node, ast.Constant) and isinstance(node.value, bool)):
        raise _unsupported(node, text)


def _check_value(node: ast.expr, text: str) -> None:
    """A comparison operand: a feature name, a constant, or a tuple/list of constants."""
    if isinstance(node, ast.Name):
        _check_name(node, text)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for element in node.elts:
            _check_constant(element, text)
    else:
        _check_constant(node, text)


def _check_constant(node: ast.expr, text: str) -> None:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, _CONSTANT_TYPES):
            raise _fail(node, text, f"the constant {node.value!r} is not allowed (numbers, strings, True/False/None)")
    elif not _negative_number(node):
        raise _unsupported(node, text)


def _negative_number(node: ast.expr) -> bool:
    """``-3`` parses as minus applied to 3; a signed literal is a constant, not arithmetic."""
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) in (int, float)
    )


def _check_name(node: ast.Name, text: str) -> None:
    if node.id not in FEATURE_DOCS:
        raise _fail(node, text, f"unknown feature {node.id!r}", FEATURE_NAMES)


def _truth(node: ast.expr, feats: Mapping[str, Any]) -> bool:
    """Evaluate a checked true/false node."""
    if isinstance(node, ast.BoolOp):
        test = all if isinstance(node.op, ast.And) else any
        return test(_truth(v, feats) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return not _truth(node.operand, feats)
    if isinstance(node, ast.Compare):
        return _compare(node, feats)
    return bool(_value(node, feats))


def _compare(node: ast.Compare, feats: Mapping[str, Any]) -> bool:
    """Chained like Python; an ordering or ``in`` between incompatible types (None < 3) is False."""
    left = _value(node.left, feats)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _value(comparator, feats)
        try:
            if not _COMPARE[type(op)](left, right):
                return False
        except TypeError:
            return False
        left = right
    return True


def _value(node: ast.expr, feats: Mapping[str, Any]) -> Any:
    """Evaluate a checked operand."""
    if isinstance(node, ast.Name):
        if node.id not in feats:
            raise SpecError("predicate", f"feature {node.id!r} missing from the features given", sorted(feats))
        return feats[node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_value(e, feats) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return -_value(node.operand, feats)
    if isinstance(node, ast.Constant):
        return node.value
    raise AssertionError(f"unchecked node {type(node).__name__}")
