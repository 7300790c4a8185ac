"""Text operators on tf.string tensors: StringSplit and ai.onnx.ml's LabelEncoder.

TF computes on strings natively, so these trace into the tf.function like any other op (the torch
table, which has no string tensors, runs them in numpy).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.importers.semantics import label_encoder as rules
from toolkit.importers.tensorflow.ops import register

ML_DOMAIN = "ai.onnx.ml"


@register("StringSplit", since=20)
def string_split(x, *, delimiter=None, maxsplit=None):
    # ONNX StringSplit: an empty delimiter splits on runs of whitespace (Python's str.split()),
    # as tf.strings.split does with sep=None; the pieces are padded with "" to the longest row.
    pieces = tf.strings.split(x, sep=delimiter or None, maxsplit=-1 if maxsplit is None else maxsplit)
    if not delimiter:  # str.split() never gives "", but TF's whitespace split with a maxsplit may
        pieces = tf.ragged.boolean_mask(pieces, tf.not_equal(pieces, ""))
    if x.shape.rank == 0:
        return pieces, tf.size(pieces, out_type=tf.int64)
    padded = pieces.to_tensor(default_value="")
    counts = tf.reduce_sum(tf.ones_like(pieces, dtype=tf.int64), axis=-1)
    # An empty input has no rows to measure: its pieces are [..., 0].
    padded = tf.reshape(padded, tf.concat([tf.shape(x), tf.shape(padded)[-1:]], 0))
    return padded, tf.reshape(counts, tf.shape(x))


@register("LabelEncoder", since=2, domain=ML_DOMAIN)
def label_encoder(
    x,
    *,
    default_float=-0.0,
    default_int64=-1,
    default_string="_Unused",
    default_tensor=None,
    keys_floats=None,
    keys_int64s=None,
    keys_strings=None,
    keys_tensor=None,
    values_floats=None,
    values_int64s=None,
    values_strings=None,
    values_tensor=None,
):
    keys, values, default, dtype = rules.table(
        default_float, default_int64, default_string, default_tensor,
        keys_floats, keys_int64s, keys_strings, keys_tensor,
        values_floats, values_int64s, values_strings, values_tensor,
    )  # fmt: skip
    key_tensor = tf.constant(
        np.asarray(keys, dtype=object if x.dtype == tf.string else x.dtype.as_numpy_dtype)
    )
    value_tensor = tf.constant(np.asarray(values, dtype=object if dtype is None else dtype))
    matches = tf.equal(x[..., None], key_tensor)  # [..., keys]
    picked = tf.gather(value_tensor, tf.argmax(tf.cast(matches, tf.int32), axis=-1))
    return tf.where(tf.reduce_any(matches, axis=-1), picked, tf.constant(default, value_tensor.dtype))
