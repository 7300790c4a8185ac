"""ONNX semantics both importers need, written once: axes, pads and auto_pad, dtypes, broadcasting."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper


def normalize_axis(axis: int, rank: int) -> int:
    """ONNX allows negative axes counted from the end (opset 11+ for most ops)."""
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def normalize_axes(axes: Sequence[int], rank: int) -> list[int]:
    return [normalize_axis(int(axis), rank) for axis in axes]


def split_pads(pads: Sequence[int]) -> list[tuple[int, int]]:
    """ONNX pads are [x1_begin, x2_begin, ..., x1_end, x2_end]; return (begin, end) per spatial axis."""
    half = len(pads) // 2
    return [(int(pads[i]), int(pads[i + half])) for i in range(half)]


def auto_pads(
    auto_pad: str,
    input_size: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> list[tuple[int, int]]:
    """Explicit (begin, end) pads for SAME_UPPER/SAME_LOWER/VALID, from static spatial sizes.

    ONNX Conv/Pool: output = ceil(input / stride); the odd pixel of padding goes at the end for
    SAME_UPPER and at the beginning for SAME_LOWER.
    """
    if auto_pad == "VALID":
        return [(0, 0)] * len(kernel)
    pads = []
    for size, k, s, d in zip(input_size, kernel, strides, dilations, strict=True):
        output = math.ceil(size / s)
        total = max(0, (output - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        pads.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    return pads


def onnx_to_numpy_dtype(element_type: int) -> np.dtype:
    return np.dtype(helper.tensor_dtype_to_np_dtype(element_type))


def numpy_to_onnx_dtype(dtype: np.dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def as_ints(values) -> list[int]:
    """A static input (numpy array, list or scalar) as a list of Python ints."""
    return [int(v) for v in np.asarray(values).reshape(-1)]


def sparse_to_dense(sparse: onnx.SparseTensorProto) -> np.ndarray:
    """A sparse initializer or Constant as a dense array (indices flat, or one row per element)."""
    values = numpy_helper.to_array(sparse.values)
    indices = numpy_helper.to_array(sparse.indices)
    dense = np.zeros(int(np.prod(sparse.dims)), dtype=values.dtype)
    flat = indices if indices.ndim == 1 else np.ravel_multi_index(indices.T, tuple(sparse.dims))
    dense[flat] = values
    return dense.reshape(tuple(sparse.dims))


def constant_value(
    value=None,
    value_float=None,
    value_floats=None,
    value_int=None,
    value_ints=None,
    value_string=None,
    value_strings=None,
    sparse_value=None,
) -> np.ndarray:
    """The tensor an ONNX Constant holds, whichever one of its attributes carries it."""
    if value is not None:
        return np.asarray(value)
    if sparse_value is not None:
        return sparse_to_dense(sparse_value)
    for scalar_or_list, dtype in (
        (value_float, np.float32),
        (value_floats, np.float32),
        (value_int, np.int64),
        (value_ints, np.int64),
        (value_string, object),
        (value_strings, object),
    ):
        if scalar_or_list is not None:
            return np.asarray(scalar_or_list, dtype)
    raise ValueError("Constant without a value attribute")


def conv_transpose_pads(
    sizes: Sequence[int],
    strides: Sequence[int],
    kernel: Sequence[int],
    dilations: Sequence[int],
    output_padding: Sequence[int],
    output_shape: Sequence[int] | None,
    auto_pad: str,
) -> list[tuple[int, int]]:
    """(begin, end) crops of a ConvTranspose's full output that give `output_shape` (or SAME's size).

    ONNX ConvTranspose: total = stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - out;
    SAME_UPPER (and an explicit output_shape) crops the smaller half at the beginning, SAME_LOWER at
    the end. A negative total asks for a larger output: (0, total) means zeros appended at the end.
    """
    targets = (
        list(output_shape)[-len(sizes) :]
        if output_shape is not None
        else [n * s for n, s in zip(sizes, strides, strict=True)]
    )
    pairs = []
    for size, stride, k, d, extra, target in zip(
        sizes, strides, kernel, dilations, output_padding, targets, strict=True
    ):
        total = stride * (size - 1) + extra + (k - 1) * d + 1 - target
        small, large = total // 2, total - total // 2
        if total < 0:
            pairs.append((0, total))
        else:
            pairs.append((large, small) if auto_pad == "SAME_LOWER" else (small, large))
    return pairs


def center_point_box_supported(attributes, context) -> str:
    """NonMaxSuppression defines center_point_box 0 (corners) and 1 (centre, size) only."""
    value = attributes.get("center_point_box", 0)
    return "" if value in (0, 1) else f"NonMaxSuppression center_point_box={value} is not defined (0 or 1)"
