"""The preview training domain's optimizer steps: Adagrad, Adam, Momentum (ai.onnx.preview.training).

Each takes a learning rate R, a step count T, then the tensors to optimize and their gradients and
accumulators grouped by kind ([X1..Xn, G1..Gn, H1..Hn]), and returns the new tensors grouped the same
way. They compute in float64 and return each result in its input's dtype, as onnx's reference does
the arithmetic in numpy; the branches on T > 0 are torch.where, so they trace.
"""

from __future__ import annotations

import torch

from toolkit.importers.semantics import optimizers as rules
from toolkit.importers.torch.ops.table import register


def _wide(value):
    return value.to(torch.float64)


@register("Adagrad", since=1, domain=rules.TRAINING_DOMAIN)
def adagrad(r, t, *tensors, decay_factor=0.0, epsilon=1e-6, norm_coefficient=0.0):
    rate = _wide(r) / (1 + _wide(t) * decay_factor)
    xs, hs = [], []
    for x, g, h in rules.groups(tensors, 3):
        gradient = norm_coefficient * _wide(x) + _wide(g)
        accumulated = _wide(h) + gradient * gradient
        xs.append((_wide(x) - rate * gradient / (torch.sqrt(accumulated) + epsilon)).to(x.dtype))
        hs.append(accumulated.to(h.dtype))
    return tuple(xs + hs)


@register("Adam", since=1, domain=rules.TRAINING_DOMAIN)
def adam(
    r, t, *tensors, alpha=0.9, beta=0.999, epsilon=1e-6, norm_coefficient=0.0, norm_coefficient_post=0.0
):
    steps = _wide(t)
    # Bias correction of the momentums from the first step on (T > 0), none at T = 0.
    corrected = _wide(r) * torch.sqrt(1 - beta**steps) / (1 - alpha**steps)
    rate = torch.where(steps > 0, corrected, _wide(r))
    xs, vs, hs = [], [], []
    for x, g, v, h in rules.groups(tensors, 4):
        gradient = norm_coefficient * _wide(x) + _wide(g)
        momentum = alpha * _wide(v) + (1 - alpha) * gradient
        second = beta * _wide(h) + (1 - beta) * gradient * gradient
        updated = _wide(x) - rate * momentum / (torch.sqrt(second) + epsilon)
        xs.append(((1 - norm_coefficient_post) * updated).to(x.dtype))
        vs.append(momentum.to(v.dtype))
        hs.append(second.to(h.dtype))
    return tuple(xs + vs + hs)


@register("Momentum", since=1, domain=rules.TRAINING_DOMAIN, check=rules.momentum_check)
def momentum(r, t, *tensors, alpha, beta, mode, norm_coefficient):
    # The gradient's coefficient is 1 at the first step (T = 0), beta afterwards.
    coefficient = torch.where(_wide(t) > 0, torch.tensor(float(beta), dtype=torch.float64), 1.0)
    xs, vs = [], []
    for x, g, v in rules.groups(tensors, 3):
        gradient = norm_coefficient * _wide(x) + _wide(g)
        velocity = alpha * _wide(v) + coefficient * gradient
        step = velocity if mode == "standard" else gradient + alpha * velocity
        xs.append((_wide(x) - _wide(r) * step).to(x.dtype))
        vs.append(velocity.to(v.dtype))
    return tuple(xs + vs)
