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
