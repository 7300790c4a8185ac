"""Elementwise math, comparisons, logic, bitwise ops, activations and casts: layout-agnostic."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.importers.tensorflow.ops import maybe_known, register, tf_dtype


def _elementwise(op_type: str, since: int = 1):
    return register(op_type, since=since, layout_mode="elementwise")


def _unary(op_type: str, function, since: int = 1) -> None:
    _elementwise(op_type, since)(lambda x: function(x))


for _name, _function in {
    "Abs": tf.abs,
    "Neg": tf.negative,
    "Exp": tf.exp,
    "Log": tf.math.log,
    "Sqrt": tf.sqrt,
    "Reciprocal": tf.math.reciprocal,
    "Floor": tf.floor,
    "Ceil": tf.math.ceil,
    "Round": tf.round,  # ONNX Round: half to even, as tf.round
    "Sign": tf.sign,
    "Sin": tf.sin,
    "Cos": tf.cos,
    "Tan": tf.tan,
    "Asin": tf.asin,
    "Acos": tf.acos,
    "Atan": tf.atan,
    "Sinh": tf.sinh,
    "Cosh": tf.cosh,
    "Asinh": tf.asinh,
    "Acosh": tf.acosh,
    "Atanh": tf.atanh,
    "Erf": tf.math.erf,
    "Relu": tf.nn.relu,
    "Sigmoid": tf.sigmoid,
    "Tanh": tf.tanh,
    "Softsign": tf.nn.softsign,
    "Softplus": tf.nn.softplus,
    "Not": tf.logical_not,
    "BitwiseNot": tf.bitwise.invert,
    "IsNaN": tf.math.is_nan,
}.items():
    _unary(_name, _function)


@_elementwise("Identity")
def identity(x):
    return x


@_elementwise("IsInf", since=10)
def is_inf(x, *, detect_negative=1, detect_positive=1):
    positive = tf.logical_and(tf.math.is_inf(x), x > 0)
    negative = tf.logical_and(tf.math.is_inf(x), x < 0)
    if detect_negative and detect_positive:
        return tf.logical_or(positive, negative)
    if detect_positive:
        return positive
    if detect_negative:
        return negative
    return tf.zeros_like(x, tf.bool)


def _binary(op_type: str, function, since: int = 7) -> None:
    _elementwise(op_type, since)(lambda a, b: function(a, b))


for _name, _function in {
    "Add": tf.add,
    "Sub": tf.subtract,
    "Mul": tf.multiply,
    "Equal": tf.equal,
    "Less": tf.less,
    "LessOrEqual": tf.less_equal,
    "Greater": tf.greater,
    "GreaterOrEqual": tf.greater_equal,
    "And": tf.logical_and,
    "Or": tf.logical_or,
    "Xor": tf.math.logical_xor,
    "BitwiseAnd": tf.bitwise.bitwise_and,
    "BitwiseOr": tf.bitwise.bitwise_or,
    "BitwiseXor": tf.bitwise.bitwise_xor,
}.items():
    _binary(_name, _function)


@_elementwise("Div", since=7)
def div(a, b):
    if a.dtype.is_integer:
        return tf.truncatediv(a, b)  # ONNX Div on integers truncates toward zero
    return tf.divide(a, b)


@_elementwise("Pow", since=7)
def pow_(x, y):
    if x.dtype != y.dtype:
        y = tf.cast(y, x.dtype)
    if x.dtype.is_integer:
        return tf.cast(tf.pow(tf.cast(x, tf.float64), tf.cast(y, tf.float64)), x.dtype)
    return tf.pow(x, y)


@_elementwise("Mod", since=10)
def mod(a, b, *, fmod=0):
    if fmod:
        if a.dtype in (tf.float16, tf.bfloat16):  # no half-precision TruncateMod kernel on CPU
            return tf.cast(tf.truncatemod(tf.cast(a, tf.float32), tf.cast(b, tf.float32)), a.dtype)
        return tf.truncatemod(a, b)  # C fmod: sign of the dividend
    if a.dtype.is_integer:
        return tf.math.floormod(a, b)  # integer Mod: sign of the divisor
    return tf.math.floormod(a, b)


@_elementwise("BitShift", since=11)
def bit_shift(x, y, *, direction):
    # onnx's cases (and torch) for amounts outside [0, width): a left shift gives 0, a right
    # shift the sign fill (-1 for negative x, else 0); TF's kernels leave those undefined.
    width = x.dtype.size * 8
    outside = (y < 0) | (y >= width)
    amount = tf.where(outside, tf.zeros_like(y), y)
    if direction == "LEFT":
        return tf.where(outside, tf.zeros_like(x), tf.bitwise.left_shift(x, amount))
    fill = tf.zeros_like(x) if x.dtype.is_unsigned else tf.where(x < 0, -tf.ones_like(x), tf.zeros_like(x))
    return tf.where(outside, fill, tf.bitwise.right_shift(x, amount))


def _variadic(op_type: str, function, since: int = 6) -> None:
    @_elementwise(op_type, since)
    def handler(*inputs):
        result = inputs[0]
        for value in inputs[1:]:
            result = function(result, value)
        return result


_variadic("Max", tf.maximum)
_variadic("Min", tf.minimum)
_variadic("Sum", tf.add)


@_elementwise("Mean", since=6)
def mean(*inputs):
    result = inputs[0]
    for value in inputs[1:]:
        result = result + value
    return result / tf.cast(len(inputs), result.dtype)


@_elementwise("Where", since=9)
def where(condition, x, y):
    return tf.where(condition, x, y)


@_elementwise("Clip", since=6)
def clip_6(x, *, min=-3.4028234663852886e38, max=3.4028234663852886e38):  # noqa: A002
    return tf.clip_by_value(x, tf.cast(min, x.dtype), tf.cast(max, x.dtype))


@_elementwise("Clip", since=11)
def clip(x, min=None, max=None):  # noqa: A002
    if min is not None:
        x = tf.maximum(x, min)
    if max is not None:
        x = tf.minimum(x, max)
    return x


@_elementwise("LeakyRelu", since=6)
def leaky_relu(x, *, alpha=0.01):
    return tf.where(x >= 0, x, x * tf.cast(alpha, x.dtype))


@register("PRelu", since=7)
def prelu(x, slope):
    if slope.shape.rank == 1 and x.shape.rank and x.shape.rank > 2 and slope.shape[0] not in (1, x.shape[-1]):
        # Exporters write a per-channel slope as [C]: it applies along axis 1.
        slope = tf.reshape(slope, [-1] + [1] * (x.shape.rank - 2))
    return tf.where(x >= 0, x, x * slope)


@_elementwise("Elu", since=6)
def elu(x, *, alpha=1.0):
    return tf.where(x > 0, x, tf.cast(alpha, x.dtype) * (tf.exp(x) - 1))


@_elementwise("Celu", since=12)
def celu(x, *, alpha=1.0):
    alpha = tf.cast(alpha, x.dtype)
    return tf.maximum(x, 0) + tf.minimum(tf.zeros_like(x), alpha * (tf.exp(x / alpha) - 1))


@_elementwise("Selu", since=6)
def selu(x, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    alpha, gamma = tf.cast(alpha, x.dtype), tf.cast(gamma, x.dtype)
    return tf.where(x > 0, gamma * x, gamma * alpha * (tf.exp(x) - 1))


@_elementwise("ThresholdedRelu", since=10)
def thresholded_relu(x, *, alpha=1.0):
    return tf.where(x > tf.cast(alpha, x.dtype), x, tf.zeros_like(x))


@_elementwise("HardSigmoid", since=6)
def hard_sigmoid(x, *, alpha=0.2, beta=0.5):
    return tf.clip_by_value(tf.cast(alpha, x.dtype) * x + tf.cast(beta, x.dtype), 0, 1)


@_elementwise("HardSwish", since=14)
def hard_swish(x):
    return x * tf.clip_by_value(x / 6 + 0.5, 0, 1)


@_elementwise("Swish", since=24)
def swish(x, *, alpha=1.0):
    return x * tf.sigmoid(tf.cast(alpha, x.dtype) * x)


@_elementwise("Mish", since=18)
def mish(x):
    return x * tf.tanh(tf.nn.softplus(x))


@_elementwise("Gelu", since=20)
def gelu(x, *, approximate="none"):
    return tf.nn.gelu(x, approximate=approximate == "tanh")


@_elementwise("Shrink", since=9)
def shrink(x, *, bias=0.0, lambd=0.5):
    bias, lambd = tf.cast(bias, x.dtype), tf.cast(lambd, x.dtype)
    return tf.where(x < -lambd, x + bias, tf.where(x > lambd, x - bias, tf.zeros_like(x)))


def _cast(x, to_type, saturate=1, round_mode="up"):
    from toolkit.importers.tensorflow import dtypes

    if to_type in dtypes.CARRIERS or to_type in dtypes.NATIVE_FLOAT8:
        return dtypes.cast_to(x, to_type, bool(saturate), round_mode)
    target = tf_dtype(to_type)
    if x.dtype == target:
        return x
    if target == tf.string:
        if x.dtype.is_floating:
            return tf.strings.as_string(x, shortest=True)
        return tf.strings.as_string(x)
    if x.dtype == tf.string:
        if target.is_floating:
            return tf.cast(tf.strings.to_number(x, tf.float64), target)
        return tf.strings.to_number(x, target)
    if target == tf.bool:
        return tf.not_equal(x, tf.zeros_like(x))
    if x.dtype.is_floating and target.is_integer:
        # numpy/ONNX cast truncates; saturate like C would not be defined, keep tf's conversion
        return tf.cast(x, target)
    return tf.cast(x, target)


@register("Cast", since=6, layout_mode="elementwise", check=lambda a, c: _cast_check(a, c))
def cast(x, *, to, saturate=1, round_mode="up"):
    return _cast(x, to, saturate, round_mode)


@register("CastLike", since=15, layout_mode="elementwise", check=lambda a, c: _cast_check(a, c))
def cast_like(x, target_type, *, saturate=1, round_mode="up", context):
    # The ONNX type, not target_type.dtype: carried types (int4, float8 fnuz) share their carrier's.
    info = context.inputs[1]
    if info is not None and info.element_type:
        return _cast(x, info.element_type, saturate, round_mode)
    if target_type.dtype == tf.string:
        return _cast(x, 8)
    from toolkit.importers.common import numpy_to_onnx_dtype

    return _cast(x, numpy_to_onnx_dtype(np.dtype(target_type.dtype.as_numpy_dtype)), saturate)


def _dropout(data, context, ratio=0.5):
    """Dropout applies only when the module is called with training=True; else the identity.

    `ratio` is a number, or a tensor when it is a graph input (its value is only known at run time).
    """
    from toolkit.importers import training

    if context.output_used(1):
        return data, tf.ones_like(data, tf.bool)
    if not training.current().flag:
        return data
    if tf.is_tensor(ratio):
        return tf.nn.dropout(data, rate=tf.cast(tf.reshape(ratio, []), data.dtype))
    return tf.nn.dropout(data, rate=float(ratio)) if ratio else data


@_elementwise("Dropout", since=7)
def dropout_7(data, *, ratio=0.5, context):
    return _dropout(data, context, ratio)


@_elementwise("Dropout", since=12)
def dropout(data, ratio=None, training_mode=None, *, seed=None, context):
    if ratio is None:
        return _dropout(data, context, 0.5)
    value = maybe_known(ratio)  # a graph input when traced: only training mode needs its value
    return _dropout(data, context, ratio if value is None else float(value))


def _cast_check(attributes, context):
    from toolkit.importers.tensorflow.ops import table

    target = attributes.get("to")
    if target is None and len(context.inputs) > 1 and context.inputs[1] is not None:
        target = context.inputs[1].element_type
    if target in table.unsupported_element_types:
        import onnx

        return f"cast to {onnx.TensorProto.DataType.Name(target)}, which TensorFlow has no type for"
    return ""
