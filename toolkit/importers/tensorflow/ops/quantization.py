"""Linear quantization (QuantizeLinear, DequantizeLinear, the integer matmuls and convolutions)."""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers import common
from toolkit.importers.tensorflow.ops import register


def _broadcast_parameter(parameter, x, axis, block_size=0):
    """Per-tensor, per-axis (1-D along `axis`) or blocked quantization parameters shaped against x."""
    if parameter.shape.rank == 0 or x.shape.rank is None:
        return parameter
    if parameter.shape.rank == 1 and parameter.shape[0] == 1 and not block_size:
        return tf.reshape(parameter, [])  # ONNX: a one-element 1-D parameter is per-tensor
    rank = x.shape.rank
    axis = common.normalize_axis(axis, rank)
    if block_size:
        return tf.repeat(parameter, block_size, axis=axis)[
            tuple(slice(None, x.shape[i]) for i in range(rank))
        ]
    if parameter.shape.rank == 1 and rank > 1:
        shape = [1] * rank
        shape[axis] = -1
        return tf.reshape(parameter, shape)
    return parameter


def _quantize(x, y_scale, y_zero_point, axis, saturate, block_size, output_dtype, element_type=0):
    from toolkit.importers.tensorflow import dtypes

    target = y_zero_point.dtype if y_zero_point is not None else (output_dtype or tf.uint8)
    scale = _broadcast_parameter(y_scale, x, axis, block_size)
    values = tf.cast(x, tf.float32) / tf.cast(scale, tf.float32)
    if element_type in dtypes.FLOAT_FORMATS or element_type in dtypes.NATIVE_FLOAT8:
        # ONNX QuantizeLinear to float8/float4: x / scale + zero point, cast (saturating by default).
        if y_zero_point is not None:
            values = values + tf.cast(_broadcast_parameter(y_zero_point, x, axis, block_size), tf.float32)
        return dtypes.cast_to(values, element_type, bool(saturate))
    values = tf.round(values)  # ONNX: round half to even
    if y_zero_point is not None:
        values = values + tf.cast(_broadcast_parameter(y_zero_point, x, axis, block_size), tf.float32)
    low, high = dtypes.quantize_range(element_type) or (float(target.min), float(target.max))
    values = tf.clip_by_value(values, low, high)
    return tf.cast(values, target)


@register("QuantizeLinear", since=10)
def quantize_linear(x, y_scale, y_zero_point=None, *, axis=1):
    return _quantize(x, y_scale, y_zero_point, axis, 1, 0, None)


@register("QuantizeLinear", since=21)
def quantize_linear_21(
    x,
    y_scale,
    y_zero_point=None,
    *,
    axis=1,
    block_size=0,
    output_dtype=0,
    saturate=1,
    precision=0,
    context,
):
    from toolkit.importers.tensorflow.ops import tf_dtype

    output = context.outputs[0]
    element_type = output_dtype or (output.element_type if output is not None else 0)
    if not element_type and context.inputs[2:3] and context.inputs[2] is not None:
        element_type = context.inputs[2].element_type
    return _quantize(
        x,
        y_scale,
        y_zero_point,
        axis,
        saturate,
        block_size,
        tf_dtype(output_dtype) if output_dtype else None,
        element_type,
    )


def _dequantize(x, x_scale, x_zero_point, axis, block_size, output_dtype=None):
    values = tf.cast(x, tf.float32)
    if x_zero_point is not None:
        values = values - tf.cast(_broadcast_parameter(x_zero_point, x, axis, block_size), tf.float32)
    result = values * tf.cast(_broadcast_parameter(x_scale, x, axis, block_size), tf.float32)
    return tf.cast(result, output_dtype or x_scale.dtype)


@register("DequantizeLinear", since=10)
def dequantize_linear(x, x_scale, x_zero_point=None, *, axis=1):
    return _dequantize(x, x_scale, x_zero_point, axis, 0)


@register("DequantizeLinear", since=21)
def dequantize_linear_21(x, x_scale, x_zero_point=None, *, axis=1, block_size=0, output_dtype=0):
    from toolkit.importers.tensorflow.ops import tf_dtype

    return _dequantize(
        x, x_scale, x_zero_point, axis, block_size, tf_dtype(output_dtype) if output_dtype else None
    )


@register("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(x):
    low = tf.minimum(tf.reduce_min(x), 0.0)
    high = tf.maximum(tf.reduce_max(x), 0.0)
    scale = (high - low) / 255.0
    zero_point = tf.cast(tf.clip_by_value(tf.round(-low / scale), 0, 255), tf.uint8)
    y = tf.cast(tf.clip_by_value(tf.round(x / scale) + tf.cast(zero_point, tf.float32), 0, 255), tf.uint8)
    return y, scale, zero_point


@register("MatMulInteger", since=10)
def mat_mul_integer(a, b, a_zero_point=None, b_zero_point=None):
    a_values = tf.cast(a, tf.int32) - (
        0
        if a_zero_point is None
        else tf.reshape(tf.cast(a_zero_point, tf.int32), [-1, 1])
        if a_zero_point.shape.rank == 1 and a_zero_point.shape[0] != 1
        else tf.cast(a_zero_point, tf.int32)
    )
    b_values = tf.cast(b, tf.int32) - (0 if b_zero_point is None else tf.cast(b_zero_point, tf.int32))
    return tf.matmul(a_values, b_values)


@register("QLinearMatMul", since=10)
def q_linear_mat_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    a_real = (tf.cast(a, tf.float32) - tf.cast(a_zero_point, tf.float32)) * tf.cast(a_scale, tf.float32)
    b_real = (tf.cast(b, tf.float32) - tf.cast(b_zero_point, tf.float32)) * tf.cast(b_scale, tf.float32)
    y = tf.matmul(a_real, b_real) / tf.cast(y_scale, tf.float32) + tf.cast(y_zero_point, tf.float32)
    return tf.cast(
        tf.clip_by_value(tf.round(y), float(y_zero_point.dtype.min), float(y_zero_point.dtype.max)),
        y_zero_point.dtype,
    )


@register("BitCast", since=26)
def bit_cast(x, *, to):
    from toolkit.importers.tensorflow.ops import tf_dtype

    target = tf_dtype(to)
    if x.dtype == tf.bool:
        x = tf.cast(x, tf.uint8)
    if target == tf.bool:
        return tf.not_equal(tf.bitcast(x, tf.uint8), 0)
    return tf.bitcast(x, target)


@register("Det", since=11)
def det(x):
    return tf.linalg.det(x)
