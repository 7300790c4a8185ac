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
        new_x, new_h = rules.adagrad_update(
            _wide(x),
            _wide(g),
            _wide(h),
            rate,
            epsilon=epsilon,
            norm_coefficient=norm_coefficient,
            sqrt=torch.sqrt,
        )
        xs.append(new_x.to(x.dtype))
        hs.append(new_h.to(h.dtype))
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
        new_x, new_v, new_h = rules.adam_update(
            *map(_wide, (x, g, v, h)), rate, alpha=alpha, beta=beta, epsilon=epsilon,
            norm_coefficient=norm_coefficient, norm_coefficient_post=norm_coefficient_post, sqrt=torch.sqrt,
        )  # fmt: skip
        xs.append(new_x.to(x.dtype))
        vs.append(new_v.to(v.dtype))
        hs.append(new_h.to(h.dtype))
    return tuple(xs + vs + hs)


@register("Momentum", since=1, domain=rules.TRAINING_DOMAIN, check=rules.momentum_check)
def momentum(r, t, *tensors, alpha, beta, mode, norm_coefficient):
    coefficient = torch.where(_wide(t) > 0, torch.tensor(float(beta), dtype=torch.float64), 1.0)
    xs, vs = [], []
    for x, g, v in rules.groups(tensors, 3):
        new_x, new_v = rules.momentum_update(
            _wide(x), _wide(g), _wide(v), _wide(r), coefficient, alpha=alpha, mode=mode,
            norm_coefficient=norm_coefficient,
        )  # fmt: skip
        xs.append(new_x.to(x.dtype))
        vs.append(new_v.to(v.dtype))
    return tuple(xs + vs)
