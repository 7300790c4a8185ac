"""NCHW ⇄ NHWC planning: values carry a layout tag so convolutions run channels-last on CPU.

TF's CPU kernels do not run NCHW convolutions and pooling. Rather than transposing around every
such op, a value may travel as `Transposed(stored, perm)` where stored = transpose(onnx_value, perm):
Conv/Pool/BatchNormalization produce channels-last values, layout-agnostic (elementwise) ops
propagate the tag, and every other op gets the value back in ONNX layout first. Graph outputs
are always in ONNX layout. Constants consumed only as convolution weights are stored permuted
(HWIO) at build time, so no weight is transposed per call; so are a Gemm's transposed weights.

A flatten of a channels-last value (torch's `flatten(x, 1)` after a convolution) would need it back
in NCHW first. Instead the flatten reshapes the NHWC value as it is (`Flattened`) and the weight of
the MatMul/Gemm that reads it is stored with its rows reordered to match (`FoldedWeight`, planned
by `plan_constants` with semantics/flatten.py's rule, which the torch importer's fold uses too).
Any other consumer gets the flatten in ONNX order, so a plan that guessed wrong costs time, never
correctness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import tensorflow as tf

from toolkit.graphs import all_nodes
from toolkit.importers.semantics import flatten


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


class Flattened:
    """A flatten [N, rows] of `held` (an NHWC value), reshaped as held: its columns are ONNX's
    flatten reordered by `rows` (semantics/flatten.py's (split, order)); `perm` takes held to ONNX."""

    __slots__ = ("stored", "held_dims", "perm", "rows")

    def __init__(self, stored: Any, held_dims: Sequence[int], perm: Sequence[int], rows):
        self.stored = stored
        self.held_dims = tuple(held_dims)
        self.perm = tuple(perm)
        self.rows = rows

    @property
    def dtype(self):
        return self.stored.dtype


class FoldedWeight:
    """A MatMul/Gemm weight stored [rows, columns] with its rows reordered for a `Flattened`
    activation; `transposed`: the graph holds it [columns, rows] (Gemm transB=1)."""

    __slots__ = ("stored", "rows", "transposed")

    def __init__(self, stored: Any, rows, transposed: bool):
        self.stored = stored
        self.rows = rows
        self.transposed = transposed

    @property
    def dtype(self):
        return self.stored.dtype

    def layout(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        columns = int(self.stored.shape[1])
        return flatten.weight_layout(*self.rows, columns, self.transposed)

    def onnx_array(self, stored: np.ndarray) -> np.ndarray:
        """The stored value (as numpy) back in the graph's layout."""
        split, perm = self.layout()
        viewed = stored.reshape(tuple(split[p] for p in perm))
        array = np.ascontiguousarray(np.transpose(viewed, np.argsort(perm)))
        return array.reshape(split[0], -1) if self.transposed else array.reshape(-1, split[-1])


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
        return permuted(value.stored, inverse(value.perm))
    if isinstance(value, Flattened):
        held = tf.reshape(value.stored, [-1, *value.held_dims[1:]])
        return tf.reshape(permuted(held, value.perm), [-1, math.prod(value.held_dims[1:])])
    if isinstance(value, FoldedWeight):
        split, perm = value.layout()
        viewed = tf.reshape(value.stored, [split[p] for p in perm])
        array = tf.transpose(viewed, inverse(perm))
        return tf.reshape(array, [split[0], -1] if value.transposed else [-1, split[-1]])
    if isinstance(value, list):
        return [to_onnx(v) for v in value]
    return value


def flattened(value: Any, target: Sequence[int] | None = None) -> Flattened | None:
    """A Reshape of `value` to `target` (None: Flatten, axis 1) kept in its channels-last order,
    when semantics/flatten.py can fold it into the weight that reads it; None: not foldable."""
    if not isinstance(value, Transposed):
        return None
    held_dims = list(value.stored.shape)
    perm = inverse(value.perm)  # held (NHWC) → ONNX
    rows = math.prod(d for d in held_dims[1:]) if None not in held_dims[1:] else None
    target = [-1, rows] if target is None else list(target)
    found = flatten.fold(held_dims, perm, target, rows) if rows else None
    if found is None:
        return None
    return Flattened(tf.reshape(value.stored, [-1, rows]), held_dims, perm, found)


def tagged_for_any(value: Any) -> Any:
    """What an "any" handler sees: Transposed tags as they are, a Flattened value in ONNX order."""
    return to_onnx(value) if isinstance(value, (Flattened, FoldedWeight)) else value


def folded_operands(a: Any, b: Any, transposed: bool) -> tuple[Any, Any, bool]:
    """A MatMul/Gemm's (A, B, transpose B): a `Flattened` A and the `FoldedWeight` planned for it
    multiply as stored; otherwise both in ONNX layout (B read transposed as `matrix_operand` says)."""
    if isinstance(a, Flattened) and isinstance(b, FoldedWeight) and a.rows == b.rows:
        return a.stored, b.stored, False
    return (to_onnx(a), *matrix_operand(b, transposed))


def permuted(value: Any, perm: Sequence[int]) -> Any:
    """tf.transpose(value, perm), as a free reshape when only unit axes move (NCHW with C=1,
    a pooled [N, C, 1, 1]): the elements keep their order, so no data is copied per call."""
    shape = value.shape
    if shape.rank is not None and len(perm) == shape.rank:
        moving = [axis for axis in perm if shape[axis] != 1]
        if moving == sorted(moving) and sum(d is None for d in shape) <= 1:
            return tf.reshape(value, [-1 if shape[axis] is None else shape[axis] for axis in perm])
    return tf.transpose(value, perm)


def stored_as(value: Any, perm: Sequence[int]) -> Any:
    """The value transposed by `perm` from ONNX layout, reusing a tag that already matches."""
    perm = tuple(perm)
    if isinstance(value, Transposed):
        if value.perm == perm:
            return value.stored
        value = to_onnx(value)
    if perm == tuple(range(len(perm))):
        return value
    return permuted(value, perm)


def matrix_operand(value: Any, transposed: bool) -> tuple[Any, bool]:
    """A MatMul/Gemm operand and whether to multiply by its transpose: a weight stored transposed
    (`plan_constants`) is read as it is, with the flag flipped, so no call transposes it."""
    if isinstance(value, Transposed) and value.perm == (1, 0):
        return value.stored, not transposed
    return to_onnx(value), transposed


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
    arguments = [tagged_for_any(a) for a in arguments]
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
# A Gemm's B read transposed (torch's Linear: transB=1, weight [out, in]).
_TRANSPOSED_MATRIX_INPUTS = {("Gemm/transB", 1)}


@dataclass(frozen=True)
class FoldedRows:
    """A plan entry: store this MatMul/Gemm weight as a `FoldedWeight` with these rows."""

    rows: tuple[tuple[int, ...], tuple[int, ...]]
    transposed: bool


# Ops whose outputs the TF table holds channels-last (ranks 3 to 5).
CHANNELS_LAST_OPS = frozenset(
    {
        "Conv",
        "ConvTranspose",
        "MaxPool",
        "AveragePool",
        "LpPool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "GlobalLpPool",
        "LRN",
    }
)


def plan_constants(
    graph: onnx.GraphProto,
    constants: dict[str, np.ndarray],
    value_info: dict | None = None,
    tag_keeping: frozenset[str] = frozenset(),
) -> dict[str, tuple[int, ...] | FoldedRows]:
    """Constants to store permuted: those used only as convolution weights (OIHW → HWIO), and
    those used only as a Gemm's transposed B ([out, in] → [in, out]): TF's CPU MatMul with
    transpose_b runs at about half the speed of the plain product on a Linear-sized weight.
    A weight that multiplies a flatten of a channels-last value gets its rows reordered too
    (`FoldedRows`); `value_info` (ONNX shapes) and `tag_keeping` (the op types that keep their
    input's layout tag) let the plan foresee which values are held channels-last."""
    uses: dict[str, set[tuple[str, int]]] = {}
    for node in all_nodes(graph):
        op_type = node.op_type
        if op_type == "Gemm" and _attribute(node, "transB", 0):
            op_type = "Gemm/transB"
        for position, name in enumerate(node.input):
            uses.setdefault(name, set()).add((op_type, position))
    for output in graph.output:
        uses.setdefault(output.name, set()).add(("<output>", 0))
    plan: dict[str, tuple[int, ...] | FoldedRows] = {}
    for name, array in constants.items():
        if not uses.get(name):
            continue
        if array.ndim in (3, 4, 5) and uses[name] <= _WEIGHT_INPUTS:
            plan[name] = weights_perm(array.ndim)
        elif array.ndim == 2 and uses[name] <= _TRANSPOSED_MATRIX_INPUTS:
            plan[name] = (1, 0)
    if value_info is not None:
        plan.update(_folded_flattens(graph, constants, value_info, tag_keeping, uses))
    return plan


def _attribute(node: onnx.NodeProto, name: str, default):
    found = next((a for a in node.attribute if a.name == name), None)
    return default if found is None else onnx.helper.get_attribute_value(found)


def _folded_flattens(graph, constants, value_info, tag_keeping, uses) -> dict[str, FoldedRows]:
    """Weights read by a MatMul/Gemm right after a flatten of a value held channels-last."""
    channels_last: set[str] = set()
    consumers: dict[str, list[onnx.NodeProto]] = {}
    use_counts: dict[str, int] = {}
    for node in all_nodes(graph):
        for name in node.input:
            use_counts[name] = use_counts.get(name, 0) + 1
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        if node.op_type in CHANNELS_LAST_OPS or (
            node.op_type in tag_keeping and any(name in channels_last for name in node.input)
        ):
            channels_last.update(name for name in node.output[:1] if name)
    plan = {}
    for node in graph.node:
        if node.op_type not in ("Reshape", "Flatten") or node.input[0] not in channels_last:
            continue
        info = value_info.get(node.input[0])
        dims = None if info is None or info.shape is None else list(info.shape)
        if dims is None or not 3 <= len(dims) <= 5 or not all(isinstance(d, int) for d in dims[1:]):
            continue
        rows = math.prod(dims[1:])
        if node.op_type == "Flatten":
            target = [-1, rows] if _attribute(node, "axis", 1) == 1 else None
        else:
            shape = constants.get(node.input[1])
            target = None if shape is None else [int(v) for v in np.asarray(shape).reshape(-1)]
        readers = consumers.get(node.output[0], [])
        if target is None or len(readers) != 1 or node.output[0] in {o.name for o in graph.output}:
            continue
        reader = readers[0]
        if reader.op_type not in ("MatMul", "Gemm") or list(reader.input[:1]) != [node.output[0]]:
            continue
        if reader.op_type == "Gemm" and _attribute(reader, "transA", 0):
            continue
        weight = reader.input[1]
        transposed = reader.op_type == "Gemm" and bool(_attribute(reader, "transB", 0))
        array = constants.get(weight)
        if array is None or array.ndim != 2 or use_counts.get(weight) != 1 or len(uses[weight]) != 1:
            continue
        held = [dims[p] for p in channels_last_perm(len(dims))]
        found = flatten.fold(held, inverse(channels_last_perm(len(dims))), target, rows)
        if found is not None and array.shape[1 if transposed else 0] == rows:
            plan[weight] = FoldedRows(found, transposed)
    return plan
