"""ONNX element types as torch dtypes, and numpy arrays (onnx's ml_dtypes included) as torch tensors."""

from __future__ import annotations

import numpy as np
import torch
from onnx import TensorProto

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
    # torch has no 2- or 4-bit integers: their values travel in the 8-bit type of the same sign.
    TensorProto.UINT4: torch.uint8,
    TensorProto.INT4: torch.int8,
    TensorProto.UINT2: torch.uint8,
    TensorProto.INT2: torch.int8,
}
# Largest finite values of the 8-bit floats: ONNX's saturating casts clamp to them.
FLOAT8_LIMITS = {
    TensorProto.FLOAT8E4M3FN: 448.0,
    TensorProto.FLOAT8E4M3FNUZ: 240.0,
    TensorProto.FLOAT8E5M2: 57344.0,
    TensorProto.FLOAT8E5M2FNUZ: 57344.0,
}
# ONNX sub-byte integer types: (bits, signed).
SUB_BYTE_INTEGERS = {
    TensorProto.UINT4: (4, False),
    TensorProto.INT4: (4, True),
    TensorProto.UINT2: (2, False),
    TensorProto.INT2: (2, True),
}


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
    if name in ("int4", "int2", "uint4", "uint2"):  # carried in 8-bit integers (see TORCH_DTYPES)
        return torch.from_numpy(array.astype(np.int8 if name.startswith("int") else np.uint8))
    if name in special:
        bits = np.ascontiguousarray(array).view(np.uint16 if name == "bfloat16" else np.uint8)
        unsigned = torch.from_numpy(bits.copy())
        return unsigned.view(special[name])
    if array.dtype == object or array.dtype.kind in "SU":
        raise TypeError("torch has no string tensors")
    return torch.from_numpy(np.array(array, copy=True))
