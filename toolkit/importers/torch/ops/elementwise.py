"""Elementwise operators: arithmetic, comparison, logic, bitwise, activations, casts."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from onnx import TensorProto

from toolkit.importers.torch import dtypes
from toolkit.importers.torch.dtypes import FLOAT8_LIMITS, SUB_BYTE_INTEGERS, TORCH_DTYPES
from toolkit.importers.torch.ops.symbolic import SYMBOLIC, symbolic_ints, with_symbolic
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.unsigned import (
    WIDE_UNSIGNED,
    from_int64,
    to_int64,
    unsigned_divmod,
    unsigned_via_int64,
)
from toolkit.importers.torch.ops.values import dims, dtype_of, is_proxy, maybe_dtype

_INTEGER = {
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint8,
    torch.uint16,
    torch.uint32,
    torch.uint64,
}


def _unary(op_type: str, function, since: int = 6) -> None:
    def handler(x):
        return function(x)

    handler.__name__ = op_type.lower()
    register(op_type, since=since)(handler)


for _op, _function in {
    "Abs": torch.abs,
    "Neg": torch.neg,
    "Exp": torch.exp,
    "Log": torch.log,
    "Sqrt": torch.sqrt,
    "Reciprocal": torch.reciprocal,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Sign": torch.sign,
    "Sin": torch.sin,
    "Cos": torch.cos,
    "Tan": torch.tan,
    "Asin": torch.asin,
    "Acos": torch.acos,
    "Atan": torch.atan,
    "Sinh": torch.sinh,
    "Cosh": torch.cosh,
    "Asinh": torch.asinh,
    "Acosh": torch.acosh,
    "Atanh": torch.atanh,
    "Tanh": torch.tanh,
    "Sigmoid": torch.sigmoid,
    "Relu": torch.relu,
    "Erf": torch.erf,
    "Softsign": F.softsign,
    "Softplus": F.softplus,
    "HardSwish": F.hardswish,
    "Mish": F.mish,
    "Not": torch.logical_not,
    "IsNaN": torch.isnan,
    # ONNX Round: half to even, as torch.round.
    "Round": torch.round,
    # A 1-tuple for a sequence (a list), which the core would read as several outputs.
    "Identity": lambda x: (x,) if isinstance(x, list) else x,
}.items():
    _unary(_op, _function, since=1)


def _on_sizes(result, a, b, operator):
    """Arithmetic on shape values (see symbolic.SYMBOLIC) also computes their symbolic elements."""
    if not any(is_proxy(v) and SYMBOLIC in v.node.meta for v in (a, b)):
        return result
    left, right = symbolic_ints(a), symbolic_ints(b)
    if left is None or right is None or (len(left) != len(right) and 1 not in (len(left), len(right))):
        return result
    count = max(len(left), len(right))
    left, right = (left * count if len(left) == 1 else left), (right * count if len(right) == 1 else right)
    return with_symbolic(result, [operator(x, y) for x, y in zip(left, right, strict=True)])


@register("Add", since=7)
@unsigned_via_int64()
def add(a, b):
    return _on_sizes(torch.add(a, b), a, b, operator.add)


@register("Sub", since=7)
@unsigned_via_int64()
def sub(a, b):
    return _on_sizes(torch.sub(a, b), a, b, operator.sub)


@register("Mul", since=7)
@unsigned_via_int64()
def mul(a, b):
    return _on_sizes(torch.mul(a, b), a, b, operator.mul)


@register("Div", since=7)
def div(a, b):
    dtype = maybe_dtype(a)
    if dtype in WIDE_UNSIGNED:
        a, b = to_int64(a, dtype), to_int64(b, dtype)
        if dtype == torch.uint64:
            return from_int64(unsigned_divmod(a, b)[0], dtype)
        return torch.div(a, b, rounding_mode="trunc").to(dtype)
    # ONNX Div on integers truncates toward zero.
    if dtype_of(a) in _INTEGER:
        return _on_sizes(torch.div(a, b, rounding_mode="trunc"), a, b, operator.floordiv)
    return torch.div(a, b)


@register("Pow", since=7)
def pow_(x, y):
    dtype = dtype_of(x)
    if dtype_of(y) != dtype and dtype in _INTEGER:
        return torch.pow(x.to(torch.float64), y).to(dtype)  # result type is X's
    return torch.pow(x, y).to(dtype)


@register("Mod", since=10)
def mod(a, b, *, fmod=0):
    dtype = maybe_dtype(a)
    if dtype in WIDE_UNSIGNED:  # unsigned: both conventions agree
        a, b = to_int64(a, dtype), to_int64(b, dtype)
        if dtype == torch.uint64:
            return from_int64(unsigned_divmod(a, b)[1], dtype)
        return torch.remainder(a, b).to(dtype)
    # fmod=0: the sign of the divisor (Python); fmod=1: the sign of the dividend (C fmod).
    return torch.fmod(a, b) if fmod else torch.remainder(a, b)


@register("BitShift", since=11)
def bit_shift(x, y, *, direction):
    dtype = maybe_dtype(x)
    if dtype in WIDE_UNSIGNED:
        x, y = to_int64(x, dtype), to_int64(y, dtype)
        if direction == "LEFT":
            return torch.bitwise_left_shift(x, y).to(dtype)  # the cast back drops the high bits
        # a logical shift: the first step clears the sign bit uint64 values may set in int64
        first = torch.bitwise_and(torch.bitwise_right_shift(x, 1), 2**63 - 1)
        shifted = torch.bitwise_right_shift(first, torch.clamp(y - 1, min=0))
        return torch.where(y == 0, x, shifted).to(dtype)
    return torch.bitwise_left_shift(x, y) if direction == "LEFT" else torch.bitwise_right_shift(x, y)


@register("BitwiseNot", since=18)
@unsigned_via_int64()
def bitwise_not(x):
    return torch.bitwise_not(x)


for _op, _function in {
    "Greater": torch.gt,
    "Less": torch.lt,
    "GreaterOrEqual": torch.ge,
    "LessOrEqual": torch.le,
}.items():

    @unsigned_via_int64(ordered=True, restore=False)
    def _compare(a, b, _function=_function):
        return _function(a, b)

    _compare.__name__ = _op.lower()
    register(_op, since=1)(_compare)


for _op, _function in {
    "Equal": torch.eq,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "Xor": torch.logical_xor,
    "BitwiseAnd": torch.bitwise_and,
    "BitwiseOr": torch.bitwise_or,
    "BitwiseXor": torch.bitwise_xor,
}.items():

    def _binary(a, b, _function=_function):
        return _function(a, b)

    _binary.__name__ = _op.lower()
    register(_op, since=1)(_binary)


def _size_max(x, y):
    # Python's max would ask a size proxy for its truth value; torch.sym_max records the call.
    return max(x, y) if isinstance(x, int) and isinstance(y, int) else torch.sym_max(x, y)


def _size_min(x, y):
    return min(x, y) if isinstance(x, int) and isinstance(y, int) else torch.sym_min(x, y)


@register("Max", since=6)
@unsigned_via_int64(ordered=True)
def max_(*data):
    result = data[0]
    for value in data[1:]:
        result = _on_sizes(torch.maximum(result, value), result, value, _size_max)
    return result


@register("Min", since=6)
@unsigned_via_int64(ordered=True)
def min_(*data):
    result = data[0]
    for value in data[1:]:
        result = _on_sizes(torch.minimum(result, value), result, value, _size_min)
    return result


@register("Sum", since=6)
def sum_(*data):
    result = data[0]
    for value in data[1:]:
        result = result + value
    return result


@register("Mean", since=6)
def mean(*data):
    return sum_(*data) / len(data)


@register("Where", since=9)
def where(condition, x, y):
    return torch.where(condition, x, y)


def _wrap_sub_byte(x, element_type: int):
    """ONNX Cast to a 2- or 4-bit integer: truncate, keep the low bits (as numpy's ml_dtypes do)."""
    bits, signed = SUB_BYTE_INTEGERS[element_type]
    values = torch.bitwise_and(x.to(torch.int64), (1 << bits) - 1)
    if signed:
        values = torch.where(values >= 1 << (bits - 1), values - (1 << bits), values)
    return values.to(TORCH_DTYPES[element_type])


def _bit_cast_check(attributes, context) -> str:
    source = context.inputs[0]
    if source is None or source.element_type in SUB_BYTE_INTEGERS or attributes["to"] in SUB_BYTE_INTEGERS:
        return "BitCast needs a known input type of at least 8 bits"
    if TORCH_DTYPES[source.element_type].itemsize != TORCH_DTYPES[attributes["to"]].itemsize:
        return "BitCast between types of different widths"
    return ""


@register("BitCast", since=26, check=_bit_cast_check)
def bit_cast(x, *, to):
    return x.view(TORCH_DTYPES[to])


SIZE_TYPES = frozenset({TensorProto.INT32, TensorProto.INT64})


@register("Cast", since=6)
def cast(x, *, to, saturate=1, round_mode="up"):
    if to in dtypes.CARRIED_FLOATS:
        return dtypes.cast_to_carried(x, to, saturate)
    if to == TensorProto.FLOAT8E8M0:
        return dtypes.cast_to_e8m0(x, saturate, round_mode)
    if to in SUB_BYTE_INTEGERS:
        return _wrap_sub_byte(x, to)
    if to in FLOAT8_LIMITS:
        return _to_float8(x, to, saturate)
    # Sizes survive a round trip through int32 (tf2onnx computes shapes in int32): keep them.
    items = symbolic_ints(x) if is_proxy(x) and to in SIZE_TYPES else None
    return with_symbolic(x.to(TORCH_DTYPES[to]), items)


def _to_float8(x, element_type: int, saturate: int):
    """ONNX Cast to 8-bit floats: saturate clamps (infinities too); otherwise out of range is NaN
    (E4M3FN, which torch would saturate) or whatever the type has (inf for E5M2, NaN for FNUZ)."""
    limit = FLOAT8_LIMITS[element_type]
    if saturate:
        x = torch.clamp(x, -limit, limit)
    elif element_type == TensorProto.FLOAT8E4M3FN:
        x = torch.where(torch.abs(x) > limit, torch.full_like(x, float("nan")), x)
    return x.to(TORCH_DTYPES[element_type])


@register("CastLike", since=15)
def cast_like(x, target_type, *, saturate=1, round_mode="up", context):
    target = context.inputs[1]
    if target is not None and target.element_type in (*dtypes.CARRIED_FLOATS, TensorProto.FLOAT8E8M0):
        return cast(x, to=target.element_type, saturate=saturate, round_mode=round_mode)
    if target is not None and target.element_type in SUB_BYTE_INTEGERS:
        return _wrap_sub_byte(x, target.element_type)
    if target is not None and target.element_type in FLOAT8_LIMITS:
        return _to_float8(x, target.element_type, saturate)
    return x.to(dtype_of(target_type))


@register("Clip", since=6)
def clip_6(x, *, min=-3.4028234663852886e38, max=3.4028234663852886e38):  # noqa: A002
    return torch.clamp(x, min, max)


@register("Clip", since=11)
def clip(x, min=None, max=None):  # noqa: A002
    if min is not None and max is not None:
        return torch.minimum(torch.maximum(x, min), max)  # min > max gives max, as ONNX says
    if min is not None:
        return torch.maximum(x, min)
    if max is not None:
        return torch.minimum(x, max)
    return x


@register("IsInf", since=10)
def is_inf(x, *, detect_negative=1, detect_positive=1):
    if detect_negative and detect_positive:
        return torch.isinf(x)
    if detect_negative:
        return torch.isneginf(x)
    if detect_positive:
        return torch.isposinf(x)
    return torch.zeros_like(x, dtype=torch.bool)


@register("LeakyRelu", since=6)
def leaky_relu(x, *, alpha=0.01):
    return F.leaky_relu(x, alpha)


@register("Elu", since=6)
def elu(x, *, alpha=1.0):
    return F.elu(x, alpha)


@register("Celu", since=12)
def celu(x, *, alpha=1.0):
    return F.celu(x, alpha)


@register("Selu", since=6)
def selu(x, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


@register("ThresholdedRelu", since=10)
def thresholded_relu(x, *, alpha=1.0):
    return torch.where(x > alpha, x, torch.zeros_like(x))


@register("HardSigmoid", since=6)
def hard_sigmoid(x, *, alpha=0.2, beta=0.5):
    return torch.clamp(alpha * x + beta, 0, 1)


@register("PRelu", since=7)
def prelu(x, slope):
    slope_dims, x_dims = dims(slope), dims(x)
    if len(slope_dims) == 1 and len(x_dims) > 2 and slope_dims[0] == x_dims[1] != x_dims[-1]:
        slope = slope.reshape([-1] + [1] * (len(x_dims) - 2))  # per-channel slope from older exporters
    return torch.where(x >= 0, x, x * slope)


@register("Gelu", since=20)
def gelu(x, *, approximate="none"):
    return F.gelu(x, approximate=approximate)


@register("Swish", since=24)
def swish(x, *, alpha=1.0):
    return x * torch.sigmoid(alpha * x)


@register("Shrink", since=9)
def shrink(x, *, bias=0.0, lambd=0.5):
    zero = torch.zeros_like(x)
    return torch.where(x < -lambd, x + bias, torch.where(x > lambd, x - bias, zero)).to(x.dtype)
