"""Linear quantization (QuantizeLinear, DequantizeLinear, the integer matmuls and convolutions).

The layouts of scales and zero points, result types and saturation ranges are ONNX's rules in
`importers.semantics.quantization`, shared with the torch table; the handlers make TF calls.
"""

from __future__ import annotations

import numpy as np
import onnx
import tensorflow as tf

from toolkit.importers.semantics import quantization
from toolkit.importers.tensorflow.ops import register


def _broadcast_parameter(parameter, x, axis, block_size=0):
    """A scale or zero point shaped against x (see quantization.parameter_layout)."""
    rank = parameter.shape.rank
    size = parameter.shape[0] if rank == 1 else None
    layout = quantization.parameter_layout(rank, size, x.shape.rank, axis, block_size)
    if layout.kind == "block":
        repeated = tf.repeat(parameter, layout.block_size, axis=layout.axis)
        return repeated[tuple(slice(None, x.shape[i]) for i in range(x.shape.rank))]
    if layout.kind == "axis" or (layout.kind == "tensor" and rank and layout.shape == ()):
        return tf.reshape(parameter, layout.shape)
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
    low, high = quantization.saturation_range(element_type) or (float(target.min), float(target.max))
    values = tf.clip_by_value(values, low, high)
    return tf.cast(values, target)


@register("QuantizeLinear", since=10, check=quantization.check)
def quantize_linear(x, y_scale, y_zero_point=None, *, axis=1):
    return _quantize(x, y_scale, y_zero_point, axis, 1, 0, None)


@register("QuantizeLinear", since=21, check=quantization.check)
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


@register("DequantizeLinear", since=10, check=quantization.check)
def dequantize_linear(x, x_scale, x_zero_point=None, *, axis=1):
    return _dequantize(x, x_scale, x_zero_point, axis, 0)


@register("DequantizeLinear", since=21, check=quantization.check)
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


def _per_row(parameter):
    """A/Y parameter of a quantized matmul: one value per row (see quantization.per_row_shape)."""
    rank = parameter.shape.rank
    shape = quantization.per_row_shape(rank, parameter.shape[0] if rank == 1 else None)
    return parameter if shape is None else tf.reshape(parameter, shape)


def _centered(x, zero_point, shape_parameter=lambda p: p):
    values = tf.cast(x, tf.int32)
    return values if zero_point is None else values - tf.cast(shape_parameter(zero_point), tf.int32)


@register("MatMulInteger", since=10)
def mat_mul_integer(a, b, a_zero_point=None, b_zero_point=None):
    return tf.matmul(_centered(a, a_zero_point, _per_row), _centered(b, b_zero_point))


@register("QLinearMatMul", since=10)
def q_linear_mat_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    a_real = tf.cast(_centered(a, a_zero_point, _per_row), tf.float32) * tf.cast(
        _per_row(a_scale), tf.float32
    )
    b_real = tf.cast(_centered(b, b_zero_point), tf.float32) * tf.cast(b_scale, tf.float32)
    y = tf.matmul(a_real, b_real) / tf.cast(_per_row(y_scale), tf.float32)
    y = tf.round(y) + tf.cast(_per_row(y_zero_point), tf.float32)
    low, high = quantization.saturation_range(_element_type(y_zero_point.dtype))
    return tf.cast(tf.clip_by_value(y, low, high), y_zero_point.dtype)


def _per_channel(parameter, weight_rank: int, against_output: bool = False):
    """A weight parameter of a quantized convolution: one value per output channel."""
    rank = parameter.shape.rank
    shape = quantization.per_channel_shape(rank, parameter.shape[0] if rank == 1 else None, weight_rank)
    if shape is not None and against_output:
        shape = (1, *shape[:-1])
    return parameter if shape is None else tf.reshape(parameter, shape)


def _integer_conv(x, w, x_zero_point, w_zero_point, attributes):
    """x − zero point convolved with w − zero point, exactly (float64 holds every 8-bit sum)."""
    from toolkit.importers.tensorflow import layout
    from toolkit.importers.tensorflow.ops import nn

    weight_rank = w.shape.rank
    x_values = tf.cast(_centered(x, x_zero_point), tf.float64)
    w_values = tf.cast(_centered(w, w_zero_point, lambda p: _per_channel(p, weight_rank)), tf.float64)
    return layout.to_onnx(nn.conv(x_values, w_values, **attributes))


@register("ConvInteger", since=10)
def conv_integer(
    x, w, x_zero_point=None, w_zero_point=None, *, auto_pad="NOTSET", dilations=None, group=1,
    kernel_shape=None, pads=None, strides=None,
):  # fmt: skip
    attributes = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                      pads=pads, strides=strides)  # fmt: skip
    return tf.cast(_integer_conv(x, w, x_zero_point, w_zero_point, attributes), tf.int32)


@register("QLinearConv", since=10)
def q_linear_conv(
    x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, b=None, *,
    auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None,
):  # fmt: skip
    attributes = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                      pads=pads, strides=strides)  # fmt: skip
    accumulated = _integer_conv(x, w, x_zero_point, w_zero_point, attributes)
    weight_rank = w.shape.rank
    if b is not None:  # ONNX QLinearConv: the int32 bias is quantized with scale x_scale * w_scale
        accumulated = accumulated + tf.reshape(tf.cast(b, tf.float64), [1, -1] + [1] * (weight_rank - 2))
    # As the reference: the combined multiplier in the scales' own type, the product in float64.
    multiplier = tf.cast(x_scale * _per_channel(w_scale, weight_rank, True) / y_scale, tf.float64)
    y = tf.round(accumulated * multiplier) + tf.cast(y_zero_point, tf.float64)
    low, high = quantization.saturation_range(_element_type(y_zero_point.dtype))
    return tf.cast(tf.clip_by_value(y, low, high), y_zero_point.dtype)


def _element_type(dtype) -> int:
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype.as_numpy_dtype))


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
