"""ONNX element types as torch dtypes, numpy arrays (onnx's ml_dtypes included) as torch tensors and
back, and the types torch lacks, carried in ones it has.

float4_e2m1fn has no torch dtype that computes (torch's float4_e2m1fn_x2 packs two values a byte,
with no casts), so its values travel in float32, which holds each exactly; a Cast to it rounds onto
its grid here, as onnx's reference (ml_dtypes) does and as the TensorFlow importer does for the same
format (`importers.semantics.quantization.FLOAT_FORMATS` holds the format both use). float8_e8m0fnu
is native (torch.float8_e8m0fnu), but ONNX rounds to it with its own round_mode, done on the bits.
"""

from __future__ import annotations

import numpy as np
import torch
from onnx import TensorProto

from toolkit.importers.semantics.quantization import FLOAT8_TYPES, FLOAT_FORMATS, FloatFormat

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
    # float4_e2m1fn values travel in float32, which holds them exactly (see CARRIED_FLOATS).
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


# onnx's ml_dtypes (numpy has none of them) and the torch dtype holding the same bits.
_ML_DTYPES = {
    "bfloat16": torch.bfloat16,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e4m3fnuz": torch.float8_e4m3fnuz,
    "float8_e5m2": torch.float8_e5m2,
    "float8_e5m2fnuz": torch.float8_e5m2fnuz,
    "float8_e8m0fnu": torch.float8_e8m0fnu,
}
_ML_DTYPE_NAMES = {dtype: name for name, dtype in _ML_DTYPES.items()}


def to_torch(array: np.ndarray) -> torch.Tensor:
    """A numpy array (onnx's ml_dtypes included) as a torch tensor that owns its memory."""
    array = np.asarray(array)
    name = array.dtype.name
    if name == "float4_e2m1fn":  # carried in float32 (see TORCH_DTYPES)
        return torch.from_numpy(array.astype(np.float32))
    if name in ("int4", "int2", "uint4", "uint2"):  # carried in 8-bit integers (see TORCH_DTYPES)
        return torch.from_numpy(array.astype(np.int8 if name.startswith("int") else np.uint8))
    if name in _ML_DTYPES:
        # np.array, not np.ascontiguousarray: that one gives a 0-d array one dimension.
        bits = np.array(array, order="C").view(np.uint16 if name == "bfloat16" else np.uint8)
        unsigned = torch.from_numpy(bits)
        return unsigned.view(_ML_DTYPES[name])
    if array.dtype == object or array.dtype.kind in "SU":
        raise TypeError("torch has no string tensors")
    return torch.from_numpy(np.array(array, copy=True))


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as numpy, bfloat16 and float8 as onnx's ml_dtypes (numpy itself has neither)."""
    tensor = tensor.detach().cpu()
    if tensor.dtype in _ML_DTYPE_NAMES:
        import ml_dtypes

        bits = tensor.view(torch.uint16 if tensor.dtype == torch.bfloat16 else torch.uint8).numpy()
        return bits.view(getattr(ml_dtypes, _ML_DTYPE_NAMES[tensor.dtype]))
    return tensor.numpy()


# Carried in float32 (see above): graph values of these types are float32 tensors.
CARRIED_FLOATS = {TensorProto.FLOAT4E2M1: FLOAT_FORMATS[TensorProto.FLOAT4E2M1]}


def cast_to_carried(x, element_type: int, saturate: bool):
    """ONNX Cast to a carried small float: round half to even onto its grid, as float32."""
    return round_to_float(x, CARRIED_FLOATS[element_type], saturate)


def round_to_float(x, fmt: FloatFormat, saturate: bool):
    """The step is 2^(exponent − mantissa bits), the exponent read from float32's bits and held at
    the smallest normal one (subnormals); overflow saturates (or is NaN where the format has NaN)."""
    x = x.to(torch.float32)
    magnitude = torch.abs(x)
    exponent = torch.bitwise_right_shift(magnitude.view(torch.int32), 23) - 127
    exponent = torch.clamp(exponent, fmt.min_exponent, 126)
    step = torch.bitwise_left_shift(exponent - fmt.mantissa + 127, 23).view(torch.float32)
    rounded = torch.round(magnitude / step) * step  # torch.round is half to even
    overflow = (rounded > fmt.maximum) | torch.isinf(magnitude)
    limit = fmt.maximum if saturate or not fmt.has_nan else float("nan")
    rounded = torch.where(overflow, torch.full_like(rounded, limit), rounded)
    rounded = torch.where(x < 0, -rounded, rounded)
    return torch.where(
        torch.isnan(x), torch.full_like(rounded, float("nan") if fmt.has_nan else 0.0), rounded
    )


def cast_to_e8m0(x, saturate: bool, round_mode: str):
    """ONNX Cast to float8_e8m0fnu: the float32 exponent, rounded per round_mode (the sign is
    dropped; NaN and inf give NaN; saturate keeps the largest exponent from overflowing to NaN)."""
    bits = x.to(torch.float32).view(torch.int32)
    exponent = torch.bitwise_and(torch.bitwise_right_shift(bits, 23), 0xFF)
    special = exponent == 0xFF
    if round_mode == "nearest":
        guard = torch.bitwise_and(bits, 0x400000) != 0
        rest = (torch.bitwise_and(bits, 0x200000) != 0) | (torch.bitwise_and(bits, 0x1FFFFF) != 0)
        increment = guard & (rest | (exponent > 0)) & ~special
    elif round_mode == "up":
        increment = (torch.bitwise_and(bits, 0x7FFFFF) != 0) & ~special
    else:  # "down"
        increment = torch.zeros_like(special)
    if saturate:
        increment = increment & (exponent != 0xFE)
    exponent = torch.where(special, torch.full_like(exponent, 0xFF), exponent + increment.to(torch.int32))
    return exponent.to(torch.uint8).view(torch.float8_e8m0fnu)
