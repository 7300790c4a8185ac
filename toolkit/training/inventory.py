"""Trainable parameters counted one way on a source model and on its imports: how many, how many values.

The same function reads both sides, because both sides are the same kind of object: a torch
source and its torch import are nn.Modules (parameters with requires_grad), a Keras model and
the TensorFlow import expose `trainable_variables`. A parameter shared by two layers counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Inventory:
    count: int  # trainable parameters (torch Parameters, trainable tf.Variables)
    size: int  # their values, all together

    def __str__(self) -> str:
        return f"{self.count} parameters ({self.size:,} values)"


def trainable_inventory(model: Any) -> Inventory:
    """The trainable parameters of a torch module, Keras model or tf.Module (source or import)."""
    if hasattr(model, "named_parameters"):
        shapes = [tuple(p.shape) for p in model.parameters() if p.requires_grad]
    elif hasattr(model, "trainable_variables"):
        shapes = [tuple(v.shape) for v in model.trainable_variables]
    else:
        raise TypeError(f"{type(model).__name__} has neither torch parameters nor trainable variables")
    return Inventory(len(shapes), sum(int(np.prod(shape, dtype=np.int64)) for shape in shapes))


def compare_imports(source: Any, imports: dict[str, Any]) -> list[str]:
    """One line per import whose trainable parameters differ from the source's; empty when all match."""
    expected = trainable_inventory(source)
    problems = []
    for target, imported in imports.items():
        found = trainable_inventory(imported)
        if found != expected:
            problems.append(f"{target}: {found}, source {expected}")
    return problems
