"""Elementwise operators: arithmetic, comparison, logic, bitwise, activations, casts."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from toolkit.importers.torch.ops.support import TORCH_DTYPES, dims, dtype_of, register

_INTEGER = {torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.uint16, torch.uint32, torch.uint64}


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
    "BitwiseNot": torch.bitwise_not,
    "IsNaN": torch.isnan,
    # ONNX Round: half to even, as torch.round.
    "Round": torch.round,
    "Identity": lambda x: x,
}.items():
    _unary(_op, _function, since=1)


@register("Add", since=7)
def add(a, b):
    return torch.add(a, b)


@register("Sub", since=7)
def sub(a, b):
    return torch.sub(a, b)


@register("Mul", since=7)
def mul(a, b):
    return torch.mul(a, b)


@register("Div", since=7)
def div(a, b):
    # ONNX Div on integers truncates toward zero.
    if dtype_of(a) in _INTEGER:
        return torch.div(a, b, rounding_mode="trunc")
    return torch.div(a, b)


@register("Pow", since=7)
def pow_(x, y):
    dtype = dtype_of(x)
    if dtype_of(y) != dtype and dtype in _INTEGER:
        return torch.pow(x.to(torch.float64), y).to(dtype)  # result type is X's
    return torch.pow(x, y).to(dtype)


@register("Mod", since=10)
def mod(a, b, *, fmod=0):
    # fmod=0: the sign of the divisor (Python); fmod=1: the sign of the dividend (C fmod).
    return torch.fmod(a, b) if fmod else torch.remainder(a, b)


@register("BitShift", since=11)
def bit_shift(x, y, *, direction):
    return torch.bitwise_left_shift(x, y) if direction == "LEFT" else torch.bitwise_right_shift(x, y)


for _op, _function in {
    "Equal": torch.eq,
    "Greater": torch.gt,
    "Less": torch.lt,
    "GreaterOrEqual": torch.ge,
    "LessOrEqual": torch.le,
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


@register("Max", since=6)
def max_(*data):
    result = data[0]
    for value in data[1:]:
        result = torch.maximum(result, value)
    return result


@register("Min", since=6)
def min_(*data):
    result = data[0]
    for value in data[1:]:
        result = torch.minimum(result, value)
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


@register("Cast", since=6)
def cast(x, *, to, saturate=1, round_mode="up"):
    return x.to(TORCH_DTYPES[to])


@register("CastLike", since=15)
def cast_like(x, target_type, *, saturate=1, round_mode="up"):
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

