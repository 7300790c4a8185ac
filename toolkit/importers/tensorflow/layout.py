"""NCHW ⇄ NHWC planning: values carry a layout tag so convolutions run channels-last on CPU.

TF's CPU kernels do not run NCHW convolutions and pooling. Rather than transposing around every
such op, a value may travel as `Transposed(stored, perm)` where stored = transpose(onnx_value, perm):
Conv/Pool/BatchNormalization produce channels-last values, layout-agnostic (elementwise) ops
propagate the tag, and every other op gets the value back in ONNX layout first. Graph outputs
are always in ONNX layout. Constants consumed only as convolution weights are stored permuted
(HWIO) at build time, so no weight is transposed per call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import tensorflow as tf

from toolkit.graphs import all_nodes


class Transposed:
    """A value held permuted: `stored` equals tf.transpose(onnx_value, perm)."""

    __slots__ = ("stored", "perm")

    def __init__(self, stored: Any, perm: Sequence[int]):
        self.stored = stored
        self.perm = tuple(int(p) for p in perm)

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def dtype(self):
        return self.stored.dtype

    def __repr__(self) -> str:
        return f"Transposed({self.stored!r}, perm={self.perm})"


def channels_last_perm(rank: int) -> tuple[int, ...]:
    """NCHW → NHWC (and NCW → NWC, NCDHW → NDHWC)."""
    return (0, *range(2, rank), 1)


def weights_perm(rank: int) -> tuple[int, ...]:
    """ONNX convolution weights OIHW → TF filters HWIO."""
    return (*range(2, rank), 1, 0)


def inverse(perm: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


def to_onnx(value: Any) -> Any:
    """The value in ONNX layout (sequences and tuples element by element)."""
    if isinstance(value, Transposed):
        return tf.transpose(value.stored, inverse(value.perm))
    if isinstance(value, list):
        return [to_onnx(v) for v in value]
    return value


def stored_as(value: Any, perm: Sequence[int]) -> Any:
    """The value transposed by `perm` from ONNX layout, reusing a tag that already matches."""
    perm = tuple(perm)
    if isinstance(value, Transposed):
        if value.perm == perm:
            return value.stored
        value = to_onnx(value)
    if perm == tuple(range(len(perm))):
        return value
    return tf.transpose(value, perm)


def channels_last(value: Any, rank: int) -> Any:
    """A rank-`rank` value as NHWC (from ONNX layout or from its tag)."""
    return stored_as(value, channels_last_perm(rank))


def is_channels_last(value: Any) -> bool:
    return isinstance(value, Transposed) and value.perm == channels_last_perm(value.rank)


def _rank(value: Any) -> int | None:
    if isinstance(value, Transposed):
        return value.rank
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return len(shape)
    except (TypeError, ValueError):  # a tf.TensorShape of unknown rank
        return None


def elementwise(function: Callable, arguments: Sequence[Any], keywords: dict) -> Any:
    """Run a layout-agnostic op on permuted values and tag its result the same way.

    Operands broadcast numpy-style (ONNX opset 7+): a lower-rank operand gets leading unit axes
    first, then the common permutation, so broadcasting still lines up axis for axis.
    """
    tagged = [a for a in arguments if isinstance(a, Transposed)]
    if not tagged:
        return function(*arguments, **keywords)
    perm = tagged[0].perm
    rank = len(perm)
    ranks = [_rank(a) for a in arguments if a is not None]
    if any(isinstance(a, Transposed) and a.perm != perm for a in tagged) or any(
        r is None or r > rank for r in ranks
    ):
        return function(*[to_onnx(a) for a in arguments], **keywords)
    moved = []
    for argument in arguments:
        if argument is None or _rank(argument) == 0:
            moved.append(argument)
            continue
        if isinstance(argument, Transposed):
            moved.append(argument.stored)
            continue
        missing = rank - _rank(argument)
        if not tf.executing_eagerly() and isinstance(argument, tf.Tensor) and hasattr(argument, "numpy"):
            # A constant captured by a traced function: permute it now, not on every call.
            array = argument.numpy().reshape((1,) * missing + tuple(argument.shape))
            moved.append(tf.constant(np.transpose(array, perm)))
            continue
        shape = [1] * missing + list(argument.shape)
        if None not in shape:
            order = [axis for axis in perm if shape[axis] != 1]
            if order == sorted(order):
                # Only unit axes move: a reshape, no data movement.
                moved.append(tf.reshape(argument, [shape[axis] for axis in perm]))
                continue
        if missing:
            argument = tf.reshape(argument, tf.concat([tf.ones([missing], tf.int32), tf.shape(argument)], 0))
        moved.append(tf.transpose(argument, perm))
    result = function(*moved, **keywords)
    if isinstance(result, (tuple, list)):
        return type(result)(Transposed(r, perm) if r is not None else None for r in result)
    return Transposed(result, perm)


# --------------------------------------------------------------------------- build-time planning

# (op_type, input position) whose constant is best stored in TF's filter layout.
_WEIGHT_INPUTS = {("Conv", 1)}


def plan_constants(graph: onnx.GraphProto, constants: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Constants to store permuted: those used only as convolution weights (OIHW → HWIO)."""
    uses: dict[str, set[tuple[str, int]]] = {}
    for node in all_nodes(graph):
        for position, name in enumerate(node.input):
            uses.setdefault(name, set()).add((node.op_type, position))
    for output in graph.output:
        uses.setdefault(output.name, set()).add(("<output>", 0))
    plan = {}
    for name, array in constants.items():
        if array.ndim in (3, 4, 5) and uses.get(name) and uses[name] <= _WEIGHT_INPUTS:
            plan[name] = weights_perm(array.ndim)
    return plan
