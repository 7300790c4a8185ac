"""FlexAttention (ai.onnx.preview): scaled dot-product attention with score and probability modifiers.

The plan (scale, grouped-query heads, softmax precision) is ONNX's rule in
`importers.semantics.attention`, shared with the torch table; score_mod and prob_mod arrive as
subgraphs, applied to the scores and the probabilities.
"""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers.semantics import attention as rules
from toolkit.importers.tensorflow import layout
from toolkit.importers.tensorflow.ops import register, tf_dtype

PREVIEW_DOMAIN = "ai.onnx.preview"


def _modified(subgraph, value):
    (result,) = subgraph(value)
    return layout.to_onnx(result)


@register("FlexAttention", since=1, domain=PREVIEW_DOMAIN, check=rules.check)
def flex_attention(q, k, v, *, prob_mod=None, scale=None, score_mod=None, softmax_precision=None):
    q_heads, head_size, kv_heads = q.shape[1], q.shape[-1], k.shape[1]
    if None in (q_heads, head_size, kv_heads):
        raise ValueError("FlexAttention needs static head counts and head size")
    plan = rules.plan(q_heads, kv_heads, head_size, scale, softmax_precision, q.dtype == tf.float64)
    if plan.groups != 1:
        k, v = (tf.repeat(t, plan.groups, axis=1) for t in (k, v))
    root = tf.cast(tf.constant(plan.root_scale, tf.float32), q.dtype)
    compute = tf_dtype(plan.softmax_type)
    scores = tf.cast(tf.matmul(q * root, k * root, transpose_b=True), compute)
    if score_mod is not None:
        scores = tf.cast(_modified(score_mod, scores), compute)
    probabilities = tf.nn.softmax(scores, axis=-1)
    if prob_mod is not None:
        probabilities = tf.cast(_modified(prob_mod, probabilities), compute)
    return tf.cast(tf.matmul(probabilities, tf.cast(v, compute)), v.dtype)
