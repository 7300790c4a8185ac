"""Linear quantization's rules, written once for both operator tables.

QuantizeLinear, DequantizeLinear, the QLinear/Integer matmuls and convolutions, and the casts to
small floats share three rules, all plain Python here: which layout a scale or zero point has
against x (per tensor, per axis, blocked), which element type a quantized result takes, and the
range it saturates to (integers clip to their own range, 4- and 2-bit ones included; float8 and
float4 round onto their grid and clip to their largest finite value). Values round half to even
(ONNX QuantizeLinear), which both torch.round and tf.round do.
"""

from __future__ import annotations

from dataclasses import dataclass

from onnx import TensorProto as T

# Saturation ranges of the integer targets, by ONNX element type.
INTEGER_RANGES = {
    T.UINT8: (0, 255),
    T.INT8: (-128, 127),
    T.UINT16: (0, 65535),
    T.INT16: (-32768, 32767),
    T.INT32: (-(2**31), 2**31 - 1),
    T.UINT4: (0, 15),
    T.INT4: (-8, 7),
    T.UINT2: (0, 3),
    T.INT2: (-2, 1),
}


@dataclass(frozen=True)
class FloatFormat:
    """A small float: `mantissa` bits, smallest normal exponent, largest finite value."""

    mantissa: int
    min_exponent: int
    maximum: float
    has_nan: bool  # float4_e2m1fn has none: overflow and NaN saturate


FLOAT_FORMATS = {
    T.FLOAT8E4M3FN: FloatFormat(3, -6, 448.0, True),
    T.FLOAT8E4M3FNUZ: FloatFormat(3, -7, 240.0, True),
    T.FLOAT8E5M2: FloatFormat(2, -14, 57344.0, True),
    T.FLOAT8E5M2FNUZ: FloatFormat(2, -15, 57344.0, True),
    T.FLOAT4E2M1: FloatFormat(1, 0, 6.0, False),
}
FLOAT8_TYPES = (T.FLOAT8E4M3FN, T.FLOAT8E4M3FNUZ, T.FLOAT8E5M2, T.FLOAT8E5M2FNUZ)


def saturation_range(element_type: int) -> tuple[float, float] | None:
    """Where a quantized value of this type clips (for floats, with saturate=1)."""
    if element_type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[element_type]
        return float(low), float(high)
    if element_type in FLOAT_FORMATS:
        maximum = FLOAT_FORMATS[element_type].maximum
        return -maximum, maximum
    return None


def quantized_element_type(output_dtype: int, zero_point_type: int) -> int:
    """ONNX QuantizeLinear: output_dtype when set, else the zero point's type, else uint8."""
    return output_dtype or zero_point_type or T.UINT8


@dataclass(frozen=True)
class ParameterLayout:
    """How a scale or zero point lines up with x: `kind` is "tensor", "axis" or "block".

    "axis": reshape the parameter to `shape` (its length along `axis`, 1 elsewhere);
    "block": repeat it `block_size` times along `axis`, then cut to x's size there.
    """

    kind: str
    axis: int = 0
    shape: tuple[int, ...] = ()
    block_size: int = 0


def parameter_layout(
    parameter_rank: int | None, parameter_size: int | None, x_rank: int | None, axis: int, block_size: int
) -> ParameterLayout:
    """ONNX Quantize/DequantizeLinear: a scalar or one-element 1-D parameter is per tensor, a 1-D one
    runs along `axis`, and with block_size > 0 one of x's rank covers block_size elements each."""
    if parameter_rank in (None, 0) or x_rank is None:
        return ParameterLayout("tensor")
    axis = axis + x_rank if axis < 0 else axis
    if block_size:
        return ParameterLayout("block", axis=axis, block_size=block_size)
    if parameter_rank == 1 and parameter_size == 1:
        return ParameterLayout("tensor", shape=())  # reshape to a scalar
    if parameter_rank == 1 and x_rank > 1:
        shape = [1] * x_rank
        shape[axis] = -1
        return ParameterLayout("axis", axis=axis, shape=tuple(shape))
    return ParameterLayout("tensor")


def check(attributes, context) -> str:
    """The tables' up-front check for Quantize/DequantizeLinear: parameters that fit x."""
    x = context.inputs[0] if context.inputs else None
    scale = context.inputs[1] if len(context.inputs) > 1 else None
    if x is None or scale is None or x.shape is None or scale.shape is None:
        return ""
    block_size = attributes.get("block_size", 0)
    if block_size < 0:
        return f"block_size={block_size} is negative"
    if block_size and len(scale.shape) != len(x.shape):
        return f"blocked quantization needs a scale of x's rank {len(x.shape)}, got rank {len(scale.shape)}"
    axis = attributes.get("axis", 1)
    if not block_size and len(scale.shape) == 1 and len(x.shape) > 1:
        if not -len(x.shape) <= axis < len(x.shape):
            return f"axis={axis} is out of range for rank {len(x.shape)}"
        size, along = scale.shape[0], x.shape[axis]
        if isinstance(size, int) and isinstance(along, int) and size not in (1, along):
            return f"a per-axis scale of {size} elements for {along} along axis {axis}"
    return ""


def per_row_shape(parameter_rank: int, parameter_size: int | None) -> tuple[int, ...] | None:
    """QLinearMatMul/MatMulInteger: a 1-D scale or zero point of `a` (or `y`) holds one value per
    row, so it is reshaped to [M, 1]; `b`'s per-column ones already broadcast as given. None: as is."""
    if parameter_rank == 1 and parameter_size != 1:
        return (-1, 1)
    return None


def per_channel_shape(
    parameter_rank: int, parameter_size: int | None, weight_rank: int
) -> tuple[int, ...] | None:
    """QLinearConv/ConvInteger: a 1-D scale or zero point of the weight holds one value per output
    channel: [M, 1, 1, ...] against the weight, [1, M, 1, ...] against the output. None: as is."""
    if parameter_rank == 1 and parameter_size != 1:
        return (-1,) + (1,) * (weight_rank - 1)
    return None
