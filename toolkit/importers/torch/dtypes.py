"""ONNX element types torch lacks, and how the torch importer carries them.

float4_e2m1fn has no torch dtype that computes (torch's float4_e2m1fn_x2 packs two values a byte,
with no casts), so its values travel in float32, which holds each exactly; a Cast to it rounds onto
its grid here, as onnx's reference (ml_dtypes) does and as the TensorFlow importer does for the same
format (`importers.semantics.quantization.FLOAT_FORMATS` holds the format both use). float8_e8m0fnu
is native (torch.float8_e8m0fnu), but ONNX rounds to it with its own round_mode, done on the bits.
"""

from __future__ import annotations

import torch
from onnx import TensorProto

from toolkit.importers.semantics.quantization import FLOAT_FORMATS, FloatFormat

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
