"""The preview training domain's optimizer steps: Adagrad, Adam, Momentum (ai.onnx.preview.training).

As in the torch table: a learning rate R, a step count T, then the tensors to optimize and their
gradients and accumulators grouped by kind ([X1..Xn, G1..Gn, H1..Hn]); the new tensors come back
grouped the same way, computed in float64 (as onnx's reference does in numpy) and returned in
each input's dtype. The branches on T > 0 are tf.where, so they trace.
"""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers.semantics import optimizers as rules
from toolkit.importers.tensorflow.ops import register


def _wide(value):
    return tf.cast(value, tf.float64)


@register("Adagrad", since=1, domain=rules.TRAINING_DOMAIN)
def adagrad(r, t, *tensors, decay_factor=0.0, epsilon=1e-6, norm_coefficient=0.0):
    rate = _wide(r) / (1 + _wide(t) * decay_factor)
    xs, hs = [], []
    for x, g, h in rules.groups(tensors, 3):
        new_x, new_h = rules.adagrad_update(
            _wide(x),
            _wide(g),
            _wide(h),
            rate,
            epsilon=epsilon,
            norm_coefficient=norm_coefficient,
            sqrt=tf.sqrt,
        )
        xs.append(tf.cast(new_x, x.dtype))
        hs.append(tf.cast(new_h, h.dtype))
    return tuple(xs + hs)


@register("Adam", since=1, domain=rules.TRAINING_DOMAIN)
def adam(
    r, t, *tensors, alpha=0.9, beta=0.999, epsilon=1e-6, norm_coefficient=0.0, norm_coefficient_post=0.0
):
    steps = _wide(t)
    # Bias correction of the momentums from the first step on (T > 0), none at T = 0.
    corrected = (
        _wide(r)
        * tf.sqrt(1 - tf.pow(tf.constant(beta, tf.float64), steps))
        / (1 - tf.pow(tf.constant(alpha, tf.float64), steps))
    )
    rate = tf.where(steps > 0, corrected, _wide(r))
    xs, vs, hs = [], [], []
    for x, g, v, h in rules.groups(tensors, 4):
        new_x, new_v, new_h = rules.adam_update(
            *map(_wide, (x, g, v, h)), rate, alpha=alpha, beta=beta, epsilon=epsilon,
            norm_coefficient=norm_coefficient, norm_coefficient_post=norm_coefficient_post, sqrt=tf.sqrt,
        )  # fmt: skip
        xs.append(tf.cast(new_x, x.dtype))
        vs.append(tf.cast(new_v, v.dtype))
        hs.append(tf.cast(new_h, h.dtype))
    return tuple(xs + vs + hs)


@register("Momentum", since=1, domain=rules.TRAINING_DOMAIN, check=rules.momentum_check)
def momentum(r, t, *tensors, alpha, beta, mode, norm_coefficient):
    coefficient = tf.where(_wide(t) > 0, tf.constant(float(beta), tf.float64), tf.constant(1.0, tf.float64))
    xs, vs = [], []
    for x, g, v in rules.groups(tensors, 3):
        new_x, new_v = rules.momentum_update(
            _wide(x), _wide(g), _wide(v), _wide(r), coefficient, alpha=alpha, mode=mode,
            norm_coefficient=norm_coefficient,
        )  # fmt: skip
        xs.append(tf.cast(new_x, x.dtype))
        vs.append(tf.cast(new_v, v.dtype))
    return tuple(xs + vs)
