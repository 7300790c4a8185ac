"""Shapes as values: integer tensors computed from shapes keep their elements as sizes while building."""

from __future__ import annotations

from toolkit.importers.torch.ops.values import dims, is_proxy, maybe_known_ints

# Exporters compute shapes with ONNX ops (Shape → Gather → Unsqueeze → Concat → Reshape). While
# building, such a value carries, beside its int64 tensor, its elements as Python ints or proxies
# of `x.size(i)` (meta "onnx_symbolic"), so that Reshape, Expand and ConstantOfShape become plain
# torch calls on sizes: readable Python, and dimensions torch.export keeps symbolic.
SYMBOLIC = "onnx_symbolic"


def symbolic_ints(value) -> list | None:
    """A 0-d/1-d integer value's elements as ints (when constant) or size proxies, else None."""
    ints = maybe_known_ints(value)
    if ints is not None:
        return ints
    return value.node.meta.get(SYMBOLIC) if is_proxy(value) else None


def with_symbolic(result, items):
    """Attach the symbolic elements `items` (None: unknown) to a proxy result."""
    if is_proxy(result) and items is not None:
        result.node.meta[SYMBOLIC] = list(items)
    return result


def sizes_of(value) -> list:
    """Every dimension of `value`: an int where known while building, else a `value.size(i)` proxy."""
    return [d if d is not None else value.size(i) for i, d in enumerate(dims(value))]
