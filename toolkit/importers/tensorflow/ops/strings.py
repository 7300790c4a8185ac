"""Text operators: StringSplit, ai.onnx.ml's LabelEncoder and TfIdfVectorizer.

TF computes on strings natively, so these trace into the tf.function like any other op (the torch
table, which has no string tensors, runs them in numpy).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.importers.semantics import label_encoder as rules
from toolkit.importers.semantics import tf_idf
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


@register("TfIdfVectorizer", since=9, check=tf_idf.check)
def tf_idf_vectorizer(
    x, *, max_gram_length, max_skip_count, min_gram_length, mode, ngram_counts, ngram_indexes,
    pool_int64s=None, pool_strings=None, weights=None,
):  # fmt: skip
    """Every counted window (skip, size, start) is known from the static row length, so the counts
    are gathers and comparisons against the pool's n-grams of each size, summed into positions."""
    items = list(pool_strings) if pool_strings is not None else [int(v) for v in pool_int64s]
    grams = tf_idf.pool(items, list(ngram_counts), list(ngram_indexes))
    output_size = max(ngram_indexes) + 1
    rows = tf.reshape(x, [1, -1]) if x.shape.rank == 1 else x
    length = rows.shape[1]
    if length is None:
        raise ValueError("TfIdfVectorizer needs the row length known when the graph is built")
    counts = tf.zeros([tf.shape(rows)[0], output_size], tf.float32)
    for skip, size in tf_idf.windows(min_gram_length, max_gram_length, max_skip_count):
        pooled = [(gram, position) for gram, position in grams.items() if len(gram) == size]
        starts = range(length - skip * (size - 1))
        if not pooled or not starts:
            continue
        columns = np.array([[start + skip * k for k in range(size)] for start in starts])  # [S, size]
        windows = tf.gather(rows, columns, axis=1)  # [N, S, size]
        pool_grams = tf.constant(np.array([gram for gram, _ in pooled], dtype=rows.dtype.as_numpy_dtype))
        hits = tf.reduce_all(windows[:, :, None, :] == pool_grams[None, None], axis=-1)  # [N, S, G]
        per_gram = tf.reduce_sum(tf.cast(hits, tf.float32), axis=1)  # [N, G]
        places = tf.one_hot([position for _, position in pooled], output_size, dtype=tf.float32)  # [G, out]
        counts += per_gram @ places
    if mode != "TF":
        scale = tf.constant(np.ones(output_size) if weights is None else np.asarray(weights), tf.float32)
        counts = tf.cast(counts > 0, tf.float32) * scale if mode == "IDF" else counts * scale
    return tf.reshape(counts, [-1]) if x.shape.rank == 1 else counts
