"""Reductions, softmax family, matrix products and losses."""

from __future__ import annotations

import functools
import math
import operator

import torch
import torch.nn.functional as F

from toolkit.importers.common import normalize_axes, normalize_axis
from toolkit.importers.torch.ops.symbolic import symbolic_ints, with_symbolic
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, dims, dtype_of, is_proxy, maybe_known_ints, rank


def _reduce(function, data, axes, keepdims, noop_with_empty_axes):
    if not axes:
        if noop_with_empty_axes:
            return data
        axes = list(range(rank(data)))
    axes = tuple(normalize_axes(axes, rank(data)))
    return _reduce_sizes(function(data, axes, bool(keepdims)), data, function)


def _reduce_sizes(result, data, function):
    """A reduction of a shape value (see symbolic.SYMBOLIC) also reduces its symbolic elements."""
    combine, identity = _SIZE_REDUCTIONS.get(function, (None, None))
    items = symbolic_ints(data) if combine is not None and is_proxy(data) and rank(data) == 1 else None
    if items is None:
        return result
    return with_symbolic(result, [functools.reduce(combine, items) if items else identity])


def _dynamic_axes(axes):
    if axes is None:
        return None
    values = maybe_known_ints(axes)
    if values is None:
        raise NeedsValues("axes known only at run time")
    return values


def _empty_along(x, axes) -> bool:
    try:
        sizes = dims(x)
    except NeedsValues:
        return False
    return any(sizes[axis] == 0 for axis in axes)


def _prod(x, axes, keepdims):
    for axis in sorted(axes, reverse=True):
        x = torch.prod(x, dim=axis, keepdim=keepdims)
    return x


def _extreme(function, largest: bool):
    def reduce(x, axes, keepdims):
        dtype = dtype_of(x)  # a proxy's x.dtype is itself a proxy: `if` on it cannot trace
        if _empty_along(x, axes):
            # ONNX ReduceMax/ReduceMin of an empty set: the type's lowest (highest) value, False (True).
            if dtype == torch.bool:
                identity = not largest
            elif dtype.is_floating_point:
                identity = -math.inf if largest else math.inf
            else:
                identity = torch.iinfo(dtype).min if largest else torch.iinfo(dtype).max
            shaped = torch.sum(x.to(torch.float32), dim=axes, keepdim=keepdims)
            return torch.full_like(shaped, identity, dtype=dtype)
        if dtype == torch.bool:
            return function(x.to(torch.uint8), dim=axes, keepdim=keepdims).to(torch.bool)
        return function(x, dim=axes, keepdim=keepdims)

    return reduce


REDUCTIONS = {
    "ReduceSum": lambda x, a, k: torch.sum(x, dim=a, keepdim=k, dtype=x.dtype),
    "ReduceMean": lambda x, a, k: torch.mean(x, dim=a, keepdim=k),
    "ReduceMax": _extreme(torch.amax, largest=True),
    "ReduceMin": _extreme(torch.amin, largest=False),
    "ReduceProd": _prod,
    "ReduceL1": lambda x, a, k: torch.sum(torch.abs(x), dim=a, keepdim=k, dtype=x.dtype),
    "ReduceL2": lambda x, a, k: torch.sqrt(torch.sum(x * x, dim=a, keepdim=k)).to(x.dtype),
    "ReduceLogSum": lambda x, a, k: torch.log(torch.sum(x, dim=a, keepdim=k)),
    "ReduceLogSumExp": lambda x, a, k: torch.logsumexp(x.double(), dim=a, keepdim=k).to(x.dtype),
    "ReduceSumSquare": lambda x, a, k: torch.sum(x * x, dim=a, keepdim=k, dtype=x.dtype),
}
# Exporters multiply sizes with ReduceProd (tf2onnx's einsum batch dimensions): (combine, identity).
_SIZE_REDUCTIONS = {REDUCTIONS["ReduceProd"]: (operator.mul, 1), REDUCTIONS["ReduceSum"]: (operator.add, 0)}
# Opset at which `axes` moved from attribute to input (ReduceSum moved first).
AXES_INPUT_SINCE = {name: 18 for name in REDUCTIONS} | {"ReduceSum": 13}


def _register_reduction(op_type, function):
    def with_attribute(data, *, axes=None, keepdims=1):
        return _reduce(function, data, axes, keepdims, 0)

    def with_input(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
        return _reduce(function, data, _dynamic_axes(axes), keepdims, noop_with_empty_axes)

    with_attribute.__name__ = with_input.__name__ = op_type.lower()
    register(op_type, since=1)(with_attribute)
    register(op_type, since=AXES_INPUT_SINCE[op_type])(with_input)


for _op_type, _function in REDUCTIONS.items():
    _register_reduction(_op_type, _function)


def _coerced(function, x, axis):
    """Softmax before opset 13: over the 2-D view [prod(shape[:axis]), prod(shape[axis:])]."""
    axis = normalize_axis(axis, rank(x))
    return (
        function(x.flatten(axis), dim=-1).reshape(x.shape)
        if axis
        else function(x.reshape(1, -1), dim=-1).reshape(x.shape)
    )


@register("Softmax", since=1)
def softmax_1(input, *, axis=1):  # noqa: A002
    return _coerced(torch.softmax, input, axis)


@register("Softmax", since=13)
def softmax(input, *, axis=-1):  # noqa: A002
    return torch.softmax(input, dim=axis)


@register("LogSoftmax", since=1)
def log_softmax_1(input, *, axis=1):  # noqa: A002
    return _coerced(torch.log_softmax, input, axis)


@register("LogSoftmax", since=13)
def log_softmax(input, *, axis=-1):  # noqa: A002
    return torch.log_softmax(input, dim=axis)


def _hardmax(x, dim):
    return torch.zeros_like(x).scatter(dim, torch.argmax(x, dim=dim, keepdim=True), 1)


@register("Hardmax", since=1)
def hardmax_1(input, *, axis=1):  # noqa: A002
    return _coerced(_hardmax, input, axis)


@register("Hardmax", since=13)
def hardmax(input, *, axis=-1):  # noqa: A002
    return _hardmax(input, normalize_axis(axis, rank(input)))


@register("MatMul", since=1)
def mat_mul(a, b):
    return torch.matmul(a, b)


@register("Gemm", since=7)
def gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):  # noqa: N803
    if transA:
        a = a.t()
    if transB and alpha == 1.0 and beta == 1.0 and (c is None or rank(c) == 1):
        return F.linear(a, b, c)  # the common Linear layer, one fused call
    product = torch.matmul(a, b.t() if transB else b)
    if alpha != 1.0:
        product = product * alpha
    if c is None:
        return product
    return product + (c * beta if beta != 1.0 else c)


@register("Einsum", since=12)
def einsum(*inputs, equation):
    return torch.einsum(equation.replace(" ", ""), *inputs)


@register("Det", since=11)
def det(x):
    return torch.linalg.det(x)


def _nll(log_probability, target, weight, ignore_index, reduction):
    return F.nll_loss(
        log_probability,
        target.long(),
        weight=weight,
        ignore_index=-100 if ignore_index is None else ignore_index,
        reduction=reduction,
    )


@register("NegativeLogLikelihoodLoss", since=12)
def negative_log_likelihood_loss(input, target, weight=None, *, ignore_index=None, reduction="mean"):  # noqa: A002
    return _nll(input, target, weight, ignore_index, reduction)


@register("SoftmaxCrossEntropyLoss", since=12)
def softmax_cross_entropy_loss(scores, labels, weights=None, *, ignore_index=None, reduction="mean"):
    log_probability = torch.log_softmax(scores, dim=1)
    return _nll(log_probability, labels, weights, ignore_index, reduction), log_probability
