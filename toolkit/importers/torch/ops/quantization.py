"""QuantizeLinear / DequantizeLinear (per-tensor, per-axis, blocked) and DynamicQuantizeLinear."""

from __future__ import annotations

import torch
from onnx import TensorProto

from toolkit.importers.torch.dtypes import FLOAT8_LIMITS, TORCH_DTYPES
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import dtype_of, rank

# Saturation ranges of the integer targets, by ONNX element type (4- and 2-bit ones included).
_RANGES = {
    TensorProto.UINT8: (0, 255),
    TensorProto.INT8: (-128, 127),
    TensorProto.UINT16: (0, 65535),
    TensorProto.INT16: (-32768, 32767),
    TensorProto.INT32: (-(2**31), 2**31 - 1),
    TensorProto.UINT4: (0, 15),
    TensorProto.INT4: (-8, 7),
    TensorProto.UINT2: (0, 3),
    TensorProto.INT2: (-2, 1),
}
_ELEMENT_TYPES = {dtype: element_type for element_type, dtype in reversed(TORCH_DTYPES.items())}


def _broadcast(parameter, x, axis, block_size):
    """A scale or zero point shaped to broadcast against x (ONNX: scalar, 1-D along axis, or blocked)."""
    if parameter is None or rank(parameter) == 0:
        return parameter
    r = rank(x)
    axis = axis + r if axis < 0 else axis
    if block_size:
        return torch.repeat_interleave(parameter, block_size, dim=axis).narrow(axis, 0, x.shape[axis])
    if rank(parameter) == 1 and r > 1:
        shape = [1] * r
        shape[axis] = -1
        return parameter.reshape(shape)
    return parameter


@register("QuantizeLinear", since=10)
def quantize_linear(
    x, y_scale, y_zero_point=None, *, axis=1, block_size=0, output_dtype=0, precision=0, saturate=1, context
):
    declared = context.inputs[2] if y_zero_point is not None and len(context.inputs) > 2 else None
    if declared is not None and declared.element_type:
        element_type = declared.element_type
    elif y_zero_point is not None:
        element_type = _ELEMENT_TYPES[dtype_of(y_zero_point)]
    else:
        element_type = output_dtype or TensorProto.UINT8
    target = TORCH_DTYPES[element_type]
    scale = _broadcast(y_scale, x, axis, block_size)
    y = x.to(torch.float32) / scale.to(torch.float32)
    if element_type not in FLOAT8_LIMITS:  # 8-bit floats round in the cast itself
        y = torch.round(y)  # ONNX: round half to even
    if y_zero_point is not None:
        y = y + _broadcast(y_zero_point, x, axis, block_size).to(torch.float32)
    if element_type in _RANGES:
        low, high = _RANGES[element_type]
        y = torch.clamp(y, low, high)
    elif element_type in FLOAT8_LIMITS and saturate:
        y = torch.clamp(y, -FLOAT8_LIMITS[element_type], FLOAT8_LIMITS[element_type])
    return y.to(target)


@register("DequantizeLinear", since=10)
def dequantize_linear(x, x_scale, x_zero_point=None, *, axis=1, block_size=0, output_dtype=0):
    values = x.to(torch.float32)
    if x_zero_point is not None:
        values = values - _broadcast(x_zero_point, x, axis, block_size).to(torch.float32)
    scale = _broadcast(x_scale, x, axis, block_size)
    return (values * scale.to(torch.float32)).to(dtype_of(x_scale))


@register("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(x):
    low = torch.clamp(torch.amin(x), max=0.0)
    high = torch.clamp(torch.amax(x), min=0.0)
    scale = (high - low) / 255.0
    zero_point = torch.clamp(torch.round(-low / scale), 0, 255)
    y = torch.clamp(torch.round(x / scale) + zero_point, 0, 255)
    return y.to(torch.uint8), scale.to(torch.float32), zero_point.to(torch.uint8)
