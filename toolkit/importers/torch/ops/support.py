"""The torch operator table and the few helpers its handlers share.

Handlers compute on torch values. While the importer builds a module those values are
`torch.fx.Proxy`s, so every torch call a handler makes is recorded as an fx node; at run time (and
inside control-flow bodies) they are real tensors. Handlers therefore read ranks, dtypes and
constants through `rank`, `dtype_of`, `dims` and `known`, which answer for both, and raise
`NeedsValues` when a proxy cannot answer: the builder then records the whole ONNX node as one
submodule that runs the handler on real tensors (still differentiable, never silently wrong).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from onnx import TensorProto

from toolkit.importers import core

table = core.OperatorTable("torch")
register = table.register
# torch has no string tensors: reported in the up-front scan, before any work.
table.unsupported_element_types.update({TensorProto.STRING})

TORCH_DTYPES = {
    TensorProto.FLOAT: torch.float32,
    TensorProto.DOUBLE: torch.float64,
    TensorProto.FLOAT16: torch.float16,
    TensorProto.BFLOAT16: torch.bfloat16,
    TensorProto.INT8: torch.int8,
    TensorProto.INT16: torch.int16,
    TensorProto.INT32: torch.int32,
    TensorProto.INT64: torch.int64,
    TensorProto.UINT8: torch.uint8,
    TensorProto.UINT16: torch.uint16,
    TensorProto.UINT32: torch.uint32,
    TensorProto.UINT64: torch.uint64,
    TensorProto.BOOL: torch.bool,
    TensorProto.COMPLEX64: torch.complex64,
    TensorProto.COMPLEX128: torch.complex128,
    TensorProto.FLOAT8E4M3FN: torch.float8_e4m3fn,
    TensorProto.FLOAT8E4M3FNUZ: torch.float8_e4m3fnuz,
    TensorProto.FLOAT8E5M2: torch.float8_e5m2,
    TensorProto.FLOAT8E5M2FNUZ: torch.float8_e5m2fnuz,
}


class NeedsValues(Exception):
    """A handler needs a concrete rank, shape, dtype or value that a proxy cannot give."""


def is_proxy(value) -> bool:
    return isinstance(value, torch.fx.Proxy)


def _info(value) -> core.ValueInfo | None:
    return value.node.meta.get("onnx_value") if is_proxy(value) else None


def rank(value) -> int:
    if not is_proxy(value):
        return value.dim()
    info = _info(value)
    if info is None or info.shape is None:
        raise NeedsValues("rank unknown while building")
    return len(info.shape)


def dims(value) -> tuple[int | None, ...]:
    """Sizes known while building (None where a dimension varies between calls)."""
    if not is_proxy(value):
        return tuple(value.shape)
    info = _info(value)
    if info is None or info.shape is None:
        raise NeedsValues("shape unknown while building")
    return tuple(d if isinstance(d, int) else None for d in info.shape)


def static_dims(value) -> tuple[int, ...]:
    sizes = dims(value)
    if any(d is None for d in sizes):
        raise NeedsValues("shape varies between calls")
    return sizes


def dtype_of(value) -> torch.dtype:
    if not is_proxy(value):
        return value.dtype
    info = _info(value)
    if info is None or info.element_type not in TORCH_DTYPES:
        raise NeedsValues("dtype unknown while building")
    return TORCH_DTYPES[info.element_type]


def known(value) -> np.ndarray | None:
    """The value as numpy when it is fixed while building (a constant), else None."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    if is_proxy(value):
        return value.node.meta.get("onnx_constant")
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def known_ints(value) -> list[int] | None:
    array = known(value)
    return None if array is None else [int(v) for v in np.asarray(array).reshape(-1)]


def to_torch(array: np.ndarray) -> torch.Tensor:
    """A numpy array (onnx's ml_dtypes included) as a torch tensor that owns its memory."""
    array = np.asarray(array)
    name = array.dtype.name
    special = {
        "bfloat16": torch.bfloat16,
        "float8_e4m3fn": torch.float8_e4m3fn,
        "float8_e4m3fnuz": torch.float8_e4m3fnuz,
        "float8_e5m2": torch.float8_e5m2,
        "float8_e5m2fnuz": torch.float8_e5m2fnuz,
    }
    if name in special:
        bits = np.ascontiguousarray(array).view(np.uint16 if name == "bfloat16" else np.uint8)
        unsigned = torch.from_numpy(bits.copy())
        return unsigned.view(special[name])
    if array.dtype == object or array.dtype.kind in "SU":
        raise TypeError("torch has no string tensors")
    return torch.from_numpy(np.array(array, copy=True))


def leaf(function):
    """Record `function` as one fx call when given proxies (it needs concrete values inside)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        proxy = _find_proxy((args, kwargs))
        if proxy is None:
            return function(*args, **kwargs)
        return proxy.tracer.create_proxy("call_function", function, args, kwargs)

    wrapper.leaf_function = function
    return wrapper


def _find_proxy(value):
    if is_proxy(value):
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _find_proxy(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _find_proxy(list(value.values()))
    return None


def as_tensor(value, like=None):
    """A Python/numpy scalar or array as a tensor (recorded as a constant when building)."""
    if isinstance(value, torch.Tensor) or is_proxy(value):
        return value
    return to_torch(np.asarray(value))
