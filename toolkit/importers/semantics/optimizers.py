"""The preview training domain's optimizer steps (Adagrad, Adam, Momentum): how their inputs are
grouped, and the check on Momentum's mode, for both tables."""

from __future__ import annotations

TRAINING_DOMAIN = "ai.onnx.preview.training"
MOMENTUM_MODES = ("standard", "nesterov")


def groups(tensors, kinds: int) -> list[list]:
    """[X1..Xn, G1..Gn, ...] as n groups of `kinds` tensors each."""
    count = len(tensors) // kinds
    return [[tensors[kind * count + i] for kind in range(kinds)] for i in range(count)]


def momentum_check(attributes, context) -> str:
    mode = attributes.get("mode")
    return "" if mode in MOMENTUM_MODES else f"mode={mode!r} is not one of {', '.join(MOMENTUM_MODES)}"


# One group's update, on float64 values of either framework (only arithmetic and the `sqrt` given):
# the tables widen the inputs, compute the step's rate, and cast the results back.
def adagrad_update(x, g, h, rate, *, epsilon, norm_coefficient, sqrt):
    """(new X, new H)."""
    gradient = norm_coefficient * x + g
    accumulated = h + gradient * gradient
    return x - rate * gradient / (sqrt(accumulated) + epsilon), accumulated


def adam_update(x, g, v, h, rate, *, alpha, beta, epsilon, norm_coefficient, norm_coefficient_post, sqrt):
    """(new X, new V, new H): V the first momentum, H the second."""
    gradient = norm_coefficient * x + g
    momentum = alpha * v + (1 - alpha) * gradient
    second = beta * h + (1 - beta) * gradient * gradient
    updated = x - rate * momentum / (sqrt(second) + epsilon)
    return (1 - norm_coefficient_post) * updated, momentum, second


def momentum_update(x, g, v, rate, coefficient, *, alpha, mode, norm_coefficient):
    """(new X, new V); `coefficient` is the gradient's: 1 at the first step (T = 0), beta afterwards."""
    gradient = norm_coefficient * x + g
    velocity = alpha * v + coefficient * gradient
    step = velocity if mode == "standard" else gradient + alpha * velocity
    return x - rate * step, velocity
