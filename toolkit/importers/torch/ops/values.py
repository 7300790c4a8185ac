"""What a handler may ask of a torch value, whether a real tensor or an fx proxy while building.

Handlers compute on torch values. While the importer builds a module those values are
`torch.fx.Proxy`s, so every torch call a handler makes is recorded as an fx node; at run time (and
inside control-flow bodies) they are real tensors. Handlers therefore read ranks, dtypes and
constants through `rank`, `dtype_of`, `dims` and `maybe_known` (the value or None, as in the
TensorFlow table), which answer for both, and raise `NeedsValues` when a proxy cannot answer: the
builder then records the whole ONNX node as one submodule that runs the handler on real tensors
(still differentiable, never silently wrong).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from toolkit.importers import core
from toolkit.importers.torch.dtypes import TORCH_DTYPES, to_numpy, to_torch


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


def maybe_known(value) -> np.ndarray | None:
    """The value as numpy when it is fixed while building (a constant), else None."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    if is_proxy(value):
        known = value.node.meta.get("onnx_constant")
        return _empty_value(value) if known is None else known
    if isinstance(value, torch.Tensor):
        # torch.export runs eager nodes on fake tensors: they have shapes but no values to read,
        # except the example's values that the .pt2 writer fixes (see ExampleValue).
        return _example_value(value) if is_fake(value) else to_numpy(value)
    return np.asarray(value)


@dataclasses.dataclass
class ExampleValue:
    """What an eager node's input held on the example inputs, attached to its fake tensor while
    torch.export traces (export.py): a handler that reads it gets the value, and the program
    asserts at run time that the input still holds it, as torch.export fixes a size it cannot keep."""

    array: np.ndarray
    node: str  # the ONNX node
    position: int  # its input
    read: bool = False


EXAMPLE_VALUE = "onnx_example_value"


def _example_value(value: torch.Tensor) -> np.ndarray | None:
    example = getattr(value, EXAMPLE_VALUE, None)
    if example is None:
        return None
    if not example.read:
        example.read = True
        torch._assert_async(
            torch.all(value == to_torch(example.array)),
            f"node {example.node!r} input {example.position} differs from the value the .pt2 was "
            f"exported with ({example.array.tolist()}): export again with these values as example inputs",
        )
    return example.array


def _empty_value(value) -> np.ndarray | None:
    """A value with no elements (an empty `axes` input) is known while building: it is empty."""
    info = _info(value)
    if info is None or info.shape is None or 0 not in info.shape or not info.element_type:
        return None
    if not all(isinstance(d, int) for d in info.shape):
        return None
    try:
        return np.zeros(info.shape, core.helper.tensor_dtype_to_np_dtype(info.element_type))
    except (KeyError, TypeError, ValueError):
        return None


def is_fake(value: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import is_fake as fake

    return fake(value)


def maybe_known_ints(value) -> list[int] | None:
    array = maybe_known(value)
    return None if array is None else [int(v) for v in np.asarray(array).reshape(-1)]


def leaf(function):
    """Record `function` as one fx call when given proxies (it needs concrete values inside)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        proxy = _find_proxy((args, kwargs))
        if proxy is None:
            return function(*args, **kwargs)
        return proxy.tracer.create_proxy("call_function", function, args, kwargs)

    wrapper.leaf_function = function
    function.reads_values = True  # the .pt2 writer gives it the example's values (export.py)
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


def maybe_dtype(value) -> torch.dtype | None:
    """A tensor's or proxy's dtype, None for anything else or when unknown while building."""
    if isinstance(value, torch.Tensor):
        return value.dtype
    if is_proxy(value):
        try:
            return dtype_of(value)
        except NeedsValues:
            return None
    return None
