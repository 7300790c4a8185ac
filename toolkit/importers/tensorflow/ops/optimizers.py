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
        gradient = norm_coefficient * _wide(x) + _wide(g)
        accumulated = _wide(h) + gradient * gradient
        xs.append(tf.cast(_wide(x) - rate * gradient / (tf.sqrt(accumulated) + epsilon), x.dtype))
        hs.append(tf.cast(accumulated, h.dtype))
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
        gradient = norm_coefficient * _wide(x) + _wide(g)
        momentum = alpha * _wide(v) + (1 - alpha) * gradient
        second = beta * _wide(h) + (1 - beta) * gradient * gradient
        updated = _wide(x) - rate * momentum / (tf.sqrt(second) + epsilon)
        xs.append(tf.cast((1 - norm_coefficient_post) * updated, x.dtype))
        vs.append(tf.cast(momentum, v.dtype))
        hs.append(tf.cast(second, h.dtype))
    return tuple(xs + vs + hs)


@register("Momentum", since=1, domain=rules.TRAINING_DOMAIN, check=rules.momentum_check)
def momentum(r, t, *tensors, alpha, beta, mode, norm_coefficient):
    # The gradient's coefficient is 1 at the first step (T = 0), beta afterwards.
    coefficient = tf.where(_wide(t) > 0, tf.constant(float(beta), tf.float64), tf.constant(1.0, tf.float64))
    xs, vs = [], []
    for x, g, v in rules.groups(tensors, 3):
        gradient = norm_coefficient * _wide(x) + _wide(g)
        velocity = alpha * _wide(v) + coefficient * gradient
        step = velocity if mode == "standard" else gradient + alpha * velocity
        xs.append(tf.cast(_wide(x) - _wide(r) * step, x.dtype))
        vs.append(tf.cast(velocity, v.dtype))
    return tuple(xs + vs)
