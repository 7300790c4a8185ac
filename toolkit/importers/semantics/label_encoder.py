"""ai.onnx.ml LabelEncoder: which attributes hold the keys, the values and the default, for both tables."""

from __future__ import annotations

import numpy as np


def items(values) -> list:
    """An attribute's keys or values as Python items (strings decoded)."""
    listed = np.asarray(values).reshape(-1).tolist()
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in listed]


def table(
    default_float, default_int64, default_string, default_tensor,
    keys_floats, keys_int64s, keys_strings, keys_tensor,
    values_floats, values_int64s, values_strings, values_tensor,
):  # fmt: skip
    """(keys, values, default, value dtype or None for strings).

    ONNX LabelEncoder: the keys and the values each come in exactly one of their attributes; a
    value of a kind without its default attribute takes the spec's (-1, -0.0 or "_Unused")."""
    keys = next(k for k in (keys_floats, keys_int64s, keys_strings, keys_tensor) if k is not None)
    if values_tensor is not None:
        dtype = None if values_tensor.dtype.kind in "OSU" else values_tensor.dtype
        fallback = "_Unused" if dtype is None else (-0.0 if dtype.kind == "f" else -1)
        default = items(default_tensor)[0] if default_tensor is not None else fallback
        values = values_tensor
    elif values_strings is not None:
        dtype, default, values = None, default_string, values_strings
    elif values_int64s is not None:
        dtype, default, values = np.dtype(np.int64), default_int64, values_int64s
    else:
        dtype, default, values = np.dtype(np.float32), default_float, values_floats
    return items(keys), items(values), default, dtype
