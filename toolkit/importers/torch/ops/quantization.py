"""QuantizeLinear / DequantizeLinear (per-tensor, per-axis, blocked), DynamicQuantizeLinear, and the
quantized matmuls and convolutions (QLinearMatMul, MatMulInteger, QLinearConv, ConvInteger).

The layout of scales and zero points, the result types and the saturation ranges are ONNX's rules in
`importers.semantics.quantization`, shared with the TensorFlow table; the handlers make torch calls.
"""

from __future__ import annotations

import torch

from toolkit.importers.semantics import quantization
from toolkit.importers.torch import dtypes
from toolkit.importers.torch.dtypes import TORCH_DTYPES
from toolkit.importers.torch.ops import nn
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import dims, dtype_of, rank

_ELEMENT_TYPES = {dtype: element_type for element_type, dtype in reversed(TORCH_DTYPES.items())}


def _broadcast(parameter, x, axis, block_size):
    """A scale or zero point shaped to broadcast against x (see quantization.parameter_layout)."""
    if parameter is None:
        return None
    parameter_rank = rank(parameter)
    size = dims(parameter)[0] if parameter_rank == 1 else None
    layout = quantization.parameter_layout(parameter_rank, size, rank(x), axis, block_size)
    if layout.kind == "block":
        repeated = torch.repeat_interleave(parameter, layout.block_size, dim=layout.axis)
        return repeated.narrow(layout.axis, 0, x.shape[layout.axis])
    if layout.kind == "axis" or (layout.kind == "tensor" and parameter_rank and layout.shape == ()):
        return parameter.reshape(layout.shape)
    return parameter


def _saturate(y, element_type: int, saturate: int = 1):
    """Round (integers, half to even) and clip to the type's range, then cast."""
    if element_type in dtypes.CARRIED_FLOATS:
        return dtypes.cast_to_carried(y, element_type, bool(saturate))
    bounds = quantization.saturation_range(element_type)
    if element_type in quantization.INTEGER_RANGES:
        y = torch.clamp(torch.round(y), *bounds)
    elif bounds is not None and saturate:  # 8-bit floats round in the cast itself
        y = torch.clamp(y, *bounds)
    return y.to(TORCH_DTYPES[element_type])


def _element_type(value, info) -> int:
    if info is not None and info.element_type:
        return info.element_type
    return _ELEMENT_TYPES[dtype_of(value)] if value is not None else 0


@register("QuantizeLinear", since=10, check=quantization.check)
def quantize_linear(
    x, y_scale, y_zero_point=None, *, axis=1, block_size=0, output_dtype=0, precision=0, saturate=1, context
):
    declared = context.inputs[2] if y_zero_point is not None and len(context.inputs) > 2 else None
    element_type = quantization.quantized_element_type(output_dtype, _element_type(y_zero_point, declared))
    scale = _broadcast(y_scale, x, axis, block_size)
    y = x.to(torch.float32) / scale.to(torch.float32)
    if y_zero_point is not None:
        if element_type in quantization.INTEGER_RANGES:
            y = torch.round(y)  # ONNX: round, then add the zero point
        y = y + _broadcast(y_zero_point, x, axis, block_size).to(torch.float32)
    return _saturate(y, element_type, saturate)


@register("DequantizeLinear", since=10, check=quantization.check)
def dequantize_linear(x, x_scale, x_zero_point=None, *, axis=1, block_size=0, output_dtype=0):
    values = x.to(torch.float32)
    if x_zero_point is not None:
        values = values - _broadcast(x_zero_point, x, axis, block_size).to(torch.float32)
    scale = _broadcast(x_scale, x, axis, block_size)
    target = TORCH_DTYPES[output_dtype] if output_dtype else dtype_of(x_scale)
    return (values * scale.to(torch.float32)).to(target)


@register("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(x):
    low = torch.clamp(torch.amin(x), max=0.0)
    high = torch.clamp(torch.amax(x), min=0.0)
    scale = (high - low) / 255.0
    zero_point = torch.clamp(torch.round(-low / scale), 0, 255)
    y = torch.clamp(torch.round(x / scale) + zero_point, 0, 255)
    return y.to(torch.uint8), scale.to(torch.float32), zero_point.to(torch.uint8)


def _shaped(parameter, shape):
    return parameter if shape is None else parameter.reshape(shape)


def _per_row(parameter):
    """A/Y parameter of a quantized matmul: one value per row (see quantization.per_row_shape)."""
    parameter_rank = rank(parameter)
    size = dims(parameter)[0] if parameter_rank == 1 else None
    return _shaped(parameter, quantization.per_row_shape(parameter_rank, size))


def _per_channel(parameter, weight_rank: int, against_output: bool = False):
    """A weight parameter of a quantized convolution: one value per output channel."""
    parameter_rank = rank(parameter)
    size = dims(parameter)[0] if parameter_rank == 1 else None
    shape = quantization.per_channel_shape(parameter_rank, size, weight_rank)
    if shape is not None and against_output:
        shape = (1, *shape[:-1])
    return _shaped(parameter, shape)


def _centered(x, zero_point, shape_parameter):
    """x − zero point in int64 (exact; the reference computes in int32)."""
    values = x.to(torch.int64)
    return values if zero_point is None else values - shape_parameter(zero_point).to(torch.int64)


def _integer_product(function, *operands):
    # Exact in float64 (products of 8-bit values summed stay far below 2**53): torch has no integer
    # matmul or convolution kernels on CPU for every dtype, and none at all on most accelerators.
    return function(*(o.to(torch.float64) for o in operands)).to(torch.int32)


@register("MatMulInteger", since=10)
def mat_mul_integer(a, b, a_zero_point=None, b_zero_point=None):
    return _integer_product(
        torch.matmul, _centered(a, a_zero_point, _per_row), _centered(b, b_zero_point, lambda p: p)
    )


@register("QLinearMatMul", since=10)
def q_linear_mat_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, context):
    product = _integer_product(
        torch.matmul, _centered(a, a_zero_point, _per_row), _centered(b, b_zero_point, lambda p: p)
    )
    # As the reference: the combined multiplier in the scales' own type, the product in float64.
    multiplier = _per_row(a_scale) * b_scale / _per_row(y_scale)
    y = product.to(torch.float64) * multiplier.to(torch.float64)
    y = y + _per_row(y_zero_point).to(torch.float64)
    return _saturate(y, _element_type(y_zero_point, context.inputs[7]))


@register("ConvInteger", since=10)
def conv_integer(
    x, w, x_zero_point=None, w_zero_point=None, *, auto_pad="NOTSET", dilations=None, group=1,
    kernel_shape=None, pads=None, strides=None,
):  # fmt: skip
    def convolve(x_values, w_values):
        return nn.conv(
            x_values, w_values, auto_pad=auto_pad, dilations=dilations, group=group,
            kernel_shape=kernel_shape, pads=pads, strides=strides,
        )  # fmt: skip

    weight_rank = rank(w)
    return _integer_product(
        convolve,
        _centered(x, x_zero_point, lambda p: p),
        _centered(w, w_zero_point, lambda p: _per_channel(p, weight_rank)),
    )


@register("QLinearConv", since=10)
def q_linear_conv(
    x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, b=None, *,
    auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None, context,
):  # fmt: skip
    accumulated = conv_integer(
        x, w, x_zero_point, w_zero_point, auto_pad=auto_pad, dilations=dilations, group=group,
        kernel_shape=kernel_shape, pads=pads, strides=strides,
    ).to(torch.float64)  # fmt: skip
    weight_rank = rank(w)
    if b is not None:  # ONNX QLinearConv: the int32 bias is quantized with scale x_scale * w_scale
        accumulated = accumulated + b.to(torch.float64).reshape((1, -1) + (1,) * (weight_rank - 2))
    multiplier = x_scale * _per_channel(w_scale, weight_rank, against_output=True) / y_scale
    y = accumulated * multiplier.to(torch.float64) + y_zero_point.to(torch.float64)
    return _saturate(y, _element_type(y_zero_point, context.inputs[7]))
