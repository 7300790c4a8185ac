"""ONNX element types that TensorFlow holds but cannot compute on, and how the importer carries them.

TF 2.21 has float8_e4m3fn and float8_e5m2 with working casts: they stay native. Its
float8_e4m3fnuz, float8_e5m2fnuz, float4_e2m1fn, int4, uint4, int2 and uint2 dtypes have no
cast (or no arithmetic) kernels, so values of those ONNX types travel in a carrier dtype that holds
every value exactly (float32 for the small floats, int8/uint8 for the small integers). Casts to
them round (or wrap) to the format here, in TF ops, the way onnx's reference (ml_dtypes) does.
Feed such inputs as carrier arrays (`carry_array`); their outputs come back in the carrier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import tensorflow as tf

from toolkit.importers.semantics import quantization

T = onnx.TensorProto


@dataclass(frozen=True)
class IntegerFormat:
    bits: int
    signed: bool

    @property
    def minimum(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def maximum(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


# Carried in float32; the formats (and the rounding rule's parameters) are ONNX's, shared with torch.
FLOAT_FORMATS = {t: quantization.FLOAT_FORMATS[t] for t in (T.FLOAT8E4M3FNUZ, T.FLOAT8E5M2FNUZ, T.FLOAT4E2M1)}
INTEGER_FORMATS = {
    T.INT4: IntegerFormat(4, True),
    T.UINT4: IntegerFormat(4, False),
    T.INT2: IntegerFormat(2, True),
    T.UINT2: IntegerFormat(2, False),
}
# float8 types TF casts natively; ONNX's saturate=1 clips to their largest finite value first.
NATIVE_FLOAT8 = {t: quantization.FLOAT_FORMATS[t].maximum for t in (T.FLOAT8E4M3FN, T.FLOAT8E5M2)}
NATIVE_FLOAT8_DTYPES = {
    T.FLOAT8E4M3FN: tf.dtypes.experimental.float8_e4m3fn,
    T.FLOAT8E5M2: tf.dtypes.experimental.float8_e5m2,
}
CARRIERS = {
    **{t: np.dtype(np.float32) for t in FLOAT_FORMATS},
    # TF 2.21 has no float8_e8m0fnu: its values (2^-127 .. 2^127, NaN) are exact in float32.
    T.FLOAT8E8M0: np.dtype(np.float32),
    **{t: np.dtype(np.int8 if f.signed else np.uint8) for t, f in INTEGER_FORMATS.items()},
}
_ML_DTYPES = {np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t)): carrier for t, carrier in CARRIERS.items()}


def carrier(element_type: int):
    """The numpy dtype a carried ONNX type travels in, or None when TF holds it natively."""
    return CARRIERS.get(element_type)


def carry_array(array):
    """A numpy array of a carried type (ml_dtypes int4, float8_e4m3fnuz, ...) in its carrier; others as given."""
    if isinstance(array, np.ndarray) and array.dtype in _ML_DTYPES:
        with np.errstate(invalid="ignore"):
            return array.astype(_ML_DTYPES[array.dtype])
    return array


def as_onnx_array(array: np.ndarray, element_type: int) -> np.ndarray:
    """A carrier array back as numpy's (ml_dtypes') array of the ONNX type; exact, the values fit."""
    if element_type not in CARRIERS:
        return array
    return np.asarray(array).astype(onnx.helper.tensor_dtype_to_np_dtype(element_type))


def cast_to(x, element_type: int, saturate: bool, round_mode: str = "up"):
    """ONNX Cast of a TF tensor to a carried or native float8 type, as onnx's reference rounds it."""
    if element_type == T.FLOAT8E8M0:
        return _round_to_e8m0(x, saturate, round_mode)
    if element_type in FLOAT_FORMATS:
        return _round_to_float(x, FLOAT_FORMATS[element_type], saturate)
    if element_type in INTEGER_FORMATS:
        return _wrap_to_integer(x, INTEGER_FORMATS[element_type])
    if element_type in NATIVE_FLOAT8 and saturate and x.dtype.is_floating:
        maximum = tf.cast(NATIVE_FLOAT8[element_type], x.dtype)
        x = tf.where(tf.math.is_nan(x), x, tf.clip_by_value(x, -maximum, maximum))
    return tf.cast(x, NATIVE_FLOAT8_DTYPES[element_type])


def _round_to_float(x, fmt: quantization.FloatFormat, saturate: bool):
    """Round half to even onto the format's grid: the step is 2^(exponent - mantissa bits),
    the exponent taken from float32's bits and held at the smallest normal one (subnormals)."""
    x = tf.cast(x, tf.float32)
    magnitude = tf.abs(x)
    exponent = tf.bitwise.right_shift(tf.bitcast(magnitude, tf.int32), 23) - 127
    exponent = tf.clip_by_value(exponent, fmt.min_exponent, 126)
    step = tf.bitcast(tf.bitwise.left_shift(exponent - fmt.mantissa + 127, 23), tf.float32)
    rounded = tf.round(magnitude / step) * step  # tf.round is half to even
    overflow = (rounded > fmt.maximum) | tf.math.is_inf(magnitude)
    # fnuz types: overflow is NaN unless saturating; float4_e2m1fn always saturates.
    limit = fmt.maximum if saturate or not fmt.has_nan else float("nan")
    rounded = tf.where(overflow, tf.constant(limit, tf.float32), rounded)
    rounded = tf.where(x < 0, -rounded, rounded)
    nan = float("nan") if fmt.has_nan else 0.0
    return tf.where(tf.math.is_nan(x), tf.constant(nan, tf.float32), rounded)


def _round_to_e8m0(x, saturate: bool, round_mode: str):
    """ONNX Cast to float8_e8m0fnu, the bit rule torch/dtypes.cast_to_e8m0 follows: float32's
    exponent, rounded per round_mode (the sign dropped; NaN and inf give NaN; saturate keeps the
    largest exponent from overflowing to NaN), carried as the power of two it stands for."""
    bits = tf.bitcast(tf.cast(x, tf.float32), tf.int32)
    exponent = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 23), 0xFF)
    special = tf.equal(exponent, 0xFF)

    def has(mask):
        return tf.not_equal(tf.bitwise.bitwise_and(bits, mask), 0)

    if round_mode == "nearest":
        increment = has(0x400000) & (has(0x200000) | has(0x1FFFFF) | (exponent > 0)) & ~special
    elif round_mode == "up":
        increment = has(0x7FFFFF) & ~special
    else:  # "down"
        increment = tf.zeros_like(special)
    if saturate:
        increment = increment & tf.not_equal(exponent, 0xFE)
    exponent = tf.where(special, 0xFF, exponent + tf.cast(increment, tf.int32))
    power = tf.bitcast(tf.bitwise.left_shift(exponent, 23), tf.float32)
    power = tf.where(tf.equal(exponent, 0), tf.constant(2.0**-127, tf.float32), power)  # a subnormal
    return tf.where(tf.equal(exponent, 0xFF), tf.constant(float("nan"), tf.float32), power)


def _wrap_to_integer(x, fmt: IntegerFormat):
    """numpy's astype to ml_dtypes' small integers: truncate toward zero (NaN and inf give 0), wrap."""
    if x.dtype.is_floating:
        truncated = tf.where(x < 0, tf.math.ceil(x), tf.math.floor(x))
        x = tf.cast(tf.where(tf.math.is_finite(x), truncated, tf.zeros_like(x)), tf.int64)
    else:
        x = tf.cast(x, tf.int64)
    span = 1 << fmt.bits
    wrapped = tf.math.floormod(x - fmt.minimum, span) + fmt.minimum
    return tf.cast(wrapped, tf.int8 if fmt.signed else tf.uint8)
