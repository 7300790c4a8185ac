"""Small ONNX helpers both importers need: axes, the pads layout, dtypes, constants; the operator
families' rules live in `importers/semantics/`."""

from __future__ import annotations

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
