"""Grafana server-side expressions for alert rules: reduce, threshold and math.

Values are per-series: ``{fingerprint: (labels, [numbers])}``; a reduced series has one
number. Followed: ``pkg/expr/reduce.go`` and ``pkg/expr/mathexp/reduce.go`` (reducers
``last mean max min sum count``; strict mode: an empty series reduces to NaN, count 0),
``pkg/expr/threshold.go`` (``gt lt within_range outside_range``, 1 or 0),
``pkg/expr/mathexp`` (binary operators of ``$A``-style variables, series joined on equal
labels, a label-less single value broadcast; comparisons give 1 or 0).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable

from observability.doubles._common import label_fingerprint

__all__ = ["ExpressionError", "Results", "Series", "math_expression", "reduce", "threshold"]

Series = tuple[dict[str, str], list[float]]
Results = dict[str, Series]


class ExpressionError(ValueError):
    """An expression Grafana's expression engine would refuse."""


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "last": lambda v: v[-1],
    "mean": _mean,
    "max": max,
    "min": min,
    "sum": sum,
    "count": lambda v: float(len(v)),
}


def reduce(values: Results, reducer: str) -> Results:
    """``type: reduce``; an empty series is NaN (count 0), as mathexp/reduce.go."""
    if reducer not in _REDUCERS:
        raise ExpressionError(f"reducer {reducer!r} is not implemented")
    out: Results = {}
    for key, (labels, numbers) in values.items():
        if not numbers:
            out[key] = (labels, [0.0 if reducer == "count" else math.nan])
        else:
            out[key] = (labels, [float(_REDUCERS[reducer](numbers))])
    return out


def threshold(values: Results, evaluator: str, params: list[float]) -> Results:
    """``type: threshold``: the last value of each series against the evaluator."""
    tests: dict[str, Callable[[float], bool]] = {
        "gt": lambda v: v > params[0],
        "lt": lambda v: v < params[0],
        "within_range": lambda v: params[0] < v < params[1],
        "outside_range": lambda v: v < params[0] or v > params[1],
    }
    if evaluator not in tests:
        raise ExpressionError(f"threshold type {evaluator!r} is not supported")
    needed = 2 if evaluator.endswith("range") else 1
    if len(params) < needed:
        raise ExpressionError(f"threshold {evaluator} needs {needed} parameter(s)")
    out: Results = {}
    for key, (labels, numbers) in values.items():
        value = numbers[-1] if numbers else math.nan
        out[key] = (labels, [1.0 if not math.isnan(value) and tests[evaluator](value) else 0.0])
    return out


_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)")
_BIN: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b if b else (math.nan if a == 0 else math.copysign(math.inf, a)),
    ast.Mod: lambda a, b: math.fmod(a, b) if b else math.nan,
    ast.Pow: lambda a, b: a**b,
}
_CMP: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Gt: lambda a, b: a > b,
    ast.Lt: lambda a, b: a < b,
    ast.GtE: lambda a, b: a >= b,
    ast.LtE: lambda a, b: a <= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


def _combine(left: Results, right: Results, op: Callable[[float, float], float]) -> Results:
    """mathexp binary operation: a label-less single value applies to every series,
    otherwise series with equal labels are joined (pkg/expr/mathexp/union)."""
    out: Results = {}
    for lkey, (llabels, lvals) in left.items():
        for rkey, (rlabels, rvals) in right.items():
            scalar = (not llabels and len(left) == 1) or (not rlabels and len(right) == 1)
            if lkey != rkey and not scalar:
                continue
            labels = llabels or rlabels
            a = lvals[-1] if lvals else math.nan
            b = rvals[-1] if rvals else math.nan
            out[label_fingerprint(labels)] = (labels, [op(a, b)])
    return out


def math_expression(expression: str, variables: dict[str, Results]) -> Results:
    """``type: math``: ``$A > 0``, ``$A * 100 / $B``, ``$A > 1 && $B < 2``, ``-$A``."""
    python = _VAR.sub(lambda m: "_v_" + (m.group(1) or m.group(2)), expression)
    python = python.replace("&&", " and ").replace("||", " or ").replace("!=", "\0")
    python = python.replace("!", " not ").replace("\0", "!=")
    try:
        tree = ast.parse(python, mode="eval")
    except SyntaxError:
        raise ExpressionError(f"failed to parse expression '{expression}'") from None
    return _eval(tree.body, variables, expression)


def _constant(value: float) -> Results:
    return {label_fingerprint({}): ({}, [value])}


def _eval(node: ast.expr, variables: dict[str, Results], source: str) -> Results:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return _constant(float(node.value))
    if isinstance(node, ast.Name) and node.id.startswith("_v_"):
        name = node.id[3:]
        if name not in variables:
            raise ExpressionError(f"expression '{source}' refers to unknown ${name}")
        return variables[name]
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        return _combine(
            _eval(node.left, variables, source),
            _eval(node.right, variables, source),
            _BIN[type(node.op)],
        )
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMP:
        test = _CMP[type(node.ops[0])]
        return _combine(
            _eval(node.left, variables, source),
            _eval(node.comparators[0], variables, source),
            lambda a, b: 1.0 if test(a, b) else 0.0,
        )
    if isinstance(node, ast.BoolOp):
        result = _eval(node.values[0], variables, source)
        both = isinstance(node.op, ast.And)
        for other in node.values[1:]:
            result = _combine(
                result,
                _eval(other, variables, source),
                lambda a, b: 1.0 if ((a != 0 and b != 0) if both else (a != 0 or b != 0)) else 0.0,
            )
        return result
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
        inner = _eval(node.operand, variables, source)
        negate = isinstance(node.op, ast.USub)
        return {
            k: (labels, [(-v if negate else float(v == 0)) for v in values])
            for k, (labels, values) in inner.items()
        }
    raise ExpressionError(f"failed to parse expression '{source}'")
