"""A flatten of a transposed activation, folded into the rows of the weight that multiplies it.

The graph computes Reshape(Transpose(held, perm), [N, rows]) @ W. When `perm` keeps the batch axis
first and the Reshape flattens everything after it, the Transpose only decides in which order the
rows of W meet the activation's elements: the same product is Reshape(held, [N, rows]) @ W' with
W' = W's rows reordered once, when the model is built. Both importers fold with this rule: torch
the explicit Transpose tf2onnx writes before a Keras Flatten, TensorFlow the transposition its
layout planner holds channels-last values in (there `held` is the NHWC value and `perm` takes it
back to ONNX's NCHW).

`fold` gives the rows' reordering; `weight_layout` makes it the (split, perm) of a whole weight,
in toolkit.training.mapping's convention (stored = transpose(W.reshape(split), perm), back to two
axes), through which the parameter map reads and writes the weight in the source layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def fold(
    held_dims: Sequence, perm: Sequence[int], target: Sequence | None, rows: int
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(split, order) reordering W [rows, M]'s rows for `held`'s own order, or None when the
    Transpose → Reshape pair is not a batch-keeping flatten (then nothing may be folded).

    `held_dims` are the dims of the value before the Transpose (the batch may be symbolic, the
    others must be known); `target` is the Reshape's shape, [anything, rows] for a flatten.
    """
    perm = tuple(int(p) for p in perm)
    if len(held_dims) != len(perm) or len(perm) < 3 or perm[0] != 0:
        return None
    if not all(isinstance(d, (int, np.integer)) and d > 0 for d in held_dims[1:]):
        return None
    flattened = math.prod(int(d) for d in held_dims[1:])
    # [anything, rows]: the element count makes the first entry the batch, so this is a flatten.
    if target is None or len(target) != 2 or not isinstance(target[1], (int, np.integer)):
        return None
    if int(target[1]) != flattened or rows != flattened:
        return None
    rows_perm = tuple(p - 1 for p in perm[1:])
    split = tuple(int(held_dims[p]) for p in perm[1:])  # W's rows: the transposed value's axes
    order = tuple(int(i) for i in np.argsort(rows_perm))  # ... taken back to the held value's order
    return split, order


def weight_layout(
    split: Sequence[int], order: Sequence[int], columns: int, transposed: bool = False
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The whole weight's (split, perm) for `fold`'s row reordering; `transposed`: the graph holds
    W as [columns, rows] (Gemm transB=1) and it is stored [rows, columns], reordered."""
    if transposed:
        return (int(columns), *split), (*(o + 1 for o in order), 0)
    return (*split, int(columns)), (*order, len(split))


def stored_weight(weight: np.ndarray, split: Sequence[int], perm: Sequence[int]) -> np.ndarray:
    """`weight` laid out by `weight_layout`: viewed as `split`, transposed, back to [rows, columns]."""
    viewed = np.transpose(weight.reshape(tuple(split)), tuple(perm))
    return np.ascontiguousarray(viewed).reshape(math.prod(viewed.shape[:-1]), viewed.shape[-1])
