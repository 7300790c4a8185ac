"""QuantizeLinear / DequantizeLinear (per-tensor, per-axis, blocked) and DynamicQuantizeLinear."""

from __future__ import annotations

import torch

from toolkit.importers.torch.ops.support import TORCH_DTYPES, dtype_of, rank, register

_RANGES = {
    torch.uint8: (0, 255),
    torch.int8: (-128, 127),
    torch.uint16: (0, 65535),
    torch.int16: (-32768, 32767),
    torch.int32: (-(2**31), 2**31 - 1),
}


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
    x, y_scale, y_zero_point=None, *, axis=1, block_size=0, output_dtype=0, precision=0, saturate=1
):
    if y_zero_point is not None:
        target = dtype_of(y_zero_point)
    else:
        target = TORCH_DTYPES[output_dtype] if output_dtype else torch.uint8
    scale = _broadcast(y_scale, x, axis, block_size)
    y = torch.round(x.to(torch.float32) / scale.to(torch.float32))  # ONNX: round half to even
    if y_zero_point is not None:
        y = y + _broadcast(y_zero_point, x, axis, block_size).to(torch.float32)
    if target in _RANGES:
        low, high = _RANGES[target]
        y = torch.clamp(y, low, high)
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
