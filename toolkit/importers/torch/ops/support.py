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
from toolkit.importers.semantics.quantization import FLOAT8_TYPES, FLOAT_FORMATS

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
    TensorProto.FLOAT8E8M0: torch.float8_e8m0fnu,
    # float4_e2m1fn values travel in float32, which holds them exactly (see importers/torch/dtypes.py).
    TensorProto.FLOAT4E2M1: torch.float32,
    # torch has no 2- or 4-bit integers: their values travel in the 8-bit type of the same sign.
    TensorProto.UINT4: torch.uint8,
    TensorProto.INT4: torch.int8,
    TensorProto.UINT2: torch.uint8,
    TensorProto.INT2: torch.int8,
}
# Largest finite values of the 8-bit floats: ONNX's saturating casts clamp to them.
FLOAT8_LIMITS = {t: FLOAT_FORMATS[t].maximum for t in FLOAT8_TYPES}

# ONNX sub-byte integer types: (bits, signed).
SUB_BYTE_INTEGERS = {
    TensorProto.UINT4: (4, False),
    TensorProto.INT4: (4, True),
    TensorProto.UINT2: (2, False),
    TensorProto.INT2: (2, True),
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
        # torch.export runs eager nodes on fake tensors: they have shapes but no values to read.
        return None if is_fake(value) else to_numpy(value)
    return np.asarray(value)


def is_fake(value: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import is_fake as fake

    return fake(value)


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
        "float8_e8m0fnu": torch.float8_e8m0fnu,
    }
    if name == "float4_e2m1fn":  # carried in float32 (see TORCH_DTYPES)
        return torch.from_numpy(array.astype(np.float32))
    if name in ("int4", "int2", "uint4", "uint2"):  # carried in 8-bit integers (see TORCH_DTYPES)
        return torch.from_numpy(array.astype(np.int8 if name.startswith("int") else np.uint8))
    if name in special:
        bits = np.ascontiguousarray(array).view(np.uint16 if name == "bfloat16" else np.uint8)
        unsigned = torch.from_numpy(bits.copy())
        return unsigned.view(special[name])
    if array.dtype == object or array.dtype.kind in "SU":
        raise TypeError("torch has no string tensors")
    return torch.from_numpy(np.array(array, copy=True))


_NUMPY_SPECIAL = {
    torch.bfloat16: "bfloat16",
    torch.float8_e4m3fn: "float8_e4m3fn",
    torch.float8_e4m3fnuz: "float8_e4m3fnuz",
    torch.float8_e5m2: "float8_e5m2",
    torch.float8_e5m2fnuz: "float8_e5m2fnuz",
    torch.float8_e8m0fnu: "float8_e8m0fnu",
}


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as numpy, bfloat16 and float8 as onnx's ml_dtypes (numpy itself has neither)."""
    tensor = tensor.detach().cpu()
    if tensor.dtype in _NUMPY_SPECIAL:
        import ml_dtypes

        bits = tensor.view(torch.uint16 if tensor.dtype == torch.bfloat16 else torch.uint8).numpy()
        return bits.view(getattr(ml_dtypes, _NUMPY_SPECIAL[tensor.dtype]))
    return tensor.numpy()


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


# --------------------------------------------------------------------------- wide unsigned integers

# torch has no arithmetic, comparison or shift kernels for uint16/32/64 (only copies and casts), so
# handlers compute on int64 and cast back: exact for uint16/32; uint64 keeps its bits (wrapping
# arithmetic is the same in two's complement) and, where order matters, has its sign bit flipped
# so that signed order is unsigned order.
WIDE_UNSIGNED = frozenset({torch.uint16, torch.uint32, torch.uint64})
_SIGN_BIT = -(2**63)


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


def to_int64(value, dtype: torch.dtype, ordered: bool = False):
    wide = value.to(torch.int64)
    return torch.bitwise_xor(wide, _SIGN_BIT) if ordered and dtype == torch.uint64 else wide


def from_int64(value, dtype: torch.dtype, ordered: bool = False):
    if ordered and dtype == torch.uint64:
        value = torch.bitwise_xor(value, _SIGN_BIT)
    return value.to(dtype)


def unsigned_via_int64(ordered: bool = False, restore: bool | tuple[int, ...] = True):
    """Run a handler on uint16/32/64 inputs as int64 (see above); cast the results at the
    positions `restore` names (True: all of them) back to the unsigned type."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            dtype = next((d for d in map(maybe_dtype, args) if d in WIDE_UNSIGNED), None)
            if dtype is None:
                return function(*args, **kwargs)
            args = tuple(to_int64(a, dtype, ordered) if maybe_dtype(a) == dtype else a for a in args)
            result = function(*args, **kwargs)
            if restore is True:
                if isinstance(result, tuple):
                    return tuple(from_int64(r, dtype, ordered) for r in result)
                return from_int64(result, dtype, ordered)
            if restore:
                return tuple(
                    from_int64(r, dtype, ordered) if i in restore else r for i, r in enumerate(result)
                )
            return result

        return wrapper

    return decorate


def unsigned_divmod(a, b):
    """Quotient and remainder of uint64 values held as int64 bit patterns (Hacker's Delight 9-3)."""

    def below(x, y):  # unsigned x < y
        return torch.bitwise_xor(x, _SIGN_BIT) < torch.bitwise_xor(y, _SIGN_BIT)

    halved = torch.bitwise_and(torch.bitwise_right_shift(a, 1), 2**63 - 1)  # logical a >> 1
    divisor = torch.where(b < 0, torch.ones_like(b), b)  # b ≥ 2**63 is handled below
    quotient = torch.bitwise_left_shift(torch.div(halved, divisor, rounding_mode="floor"), 1)
    remainder = a - quotient * divisor
    fix = ~below(remainder, divisor)
    quotient = torch.where(fix, quotient + 1, quotient)
    remainder = torch.where(fix, remainder - divisor, remainder)
    large = (~below(a, b)).to(torch.int64)  # a divisor ≥ 2**63 goes into a at most once
    quotient = torch.where(b < 0, large, quotient)
    remainder = torch.where(b < 0, a - large * b, remainder)
    return quotient, remainder


# --------------------------------------------------------------------------- shapes as values

# Exporters compute shapes with ONNX ops (Shape → Gather → Unsqueeze → Concat → Reshape). While
# building, such a value carries, beside its int64 tensor, its elements as Python ints or proxies
# of `x.size(i)` (meta "onnx_symbolic"), so that Reshape, Expand and ConstantOfShape become plain
# torch calls on sizes: readable Python, and dimensions torch.export keeps symbolic.
SYMBOLIC = "onnx_symbolic"


def symbolic_ints(value) -> list | None:
    """A 0-d/1-d integer value's elements as ints (when constant) or size proxies, else None."""
    ints = known_ints(value)
    if ints is not None:
        return ints
    return value.node.meta.get(SYMBOLIC) if is_proxy(value) else None


def with_symbolic(result, items):
    """Attach the symbolic elements `items` (None: unknown) to a proxy result."""
    if is_proxy(result) and items is not None:
        result.node.meta[SYMBOLIC] = list(items)
    return result


def sizes_of(value) -> list:
    """Every dimension of `value`: an int where known while building, else a `value.size(i)` proxy."""
    return [d if d is not None else value.size(i) for i, d in enumerate(dims(value))]
