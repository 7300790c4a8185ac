"""ONNX translations of aten ops that replace torch.onnx's own (torchlib's) where its graph fails consumers.

Handed to `torch.onnx.export(custom_translation_table=...)`, the exporter's public hook for this:
torch.onnx keeps every op that torchlib translates out of its decompositions, so a torch-level
`run_decompositions` would have to capture the program itself, and lose torch.onnx's capture
strategies. Each translation is a trace-only onnxscript function: plain Python calling `op.*`.

EmbeddingBag: torchlib lowers `aten::_embedding_bag` and `aten::embedding_bag` to a Loop with no
trip count, one bag per iteration, appending each row to a sequence (pytorch/pytorch#138485). No
consumer can give that a fixed-shape program: torch.export's while_loop needs carries of fixed
shape, so the torch importer runs it eagerly and there is no .pt2 or .py. Here it is a gather and a
segment reduction: each index's bag number comes from a running count of the offsets at or before
it (ScatterElements add, then CumSum), and ScatterElements with reduction add or max folds the rows
into their bags. Empty bags give zeros in every mode, as torch's do.
"""

from __future__ import annotations

from typing import Any

import torch
from onnxscript import BOOL, INT64
from onnxscript import opset18 as op

# aten::_embedding_bag's `mode`.
SUM, MEAN, MAX = 0, 1, 2


def embedding_bag(
    weight,
    indices,
    offsets,
    scale_grad_by_freq: bool = False,
    mode: int = SUM,
    sparse: bool = False,
    per_sample_weights=None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
):
    """aten::embedding_bag(.padding_idx), _embedding_bag(_forward_only): (output, offset2bag, bag_size, max_indices).

    `scale_grad_by_freq` and `sparse` concern only the gradient. torch.nn.functional.embedding_bag
    passes 1-D indices, offsets starting at 0, and `padding_idx` made non-negative (-1 or None: none).
    offset2bag is each index's bag; bag_size and max_indices are torch's in mean and max mode (its
    backward reads them; in sum mode torch's fast path leaves them zeros, here they are bag_size).
    The forward and torch.nn.EmbeddingBag read the output alone.
    """
    del scale_grad_by_freq, sparse
    indices = op.Reshape(indices, op.Constant(value_ints=[-1]))
    rows = op.Gather(weight, indices, axis=0)  # (positions, dim)
    zero, one = (op.CastLike(op.Constant(value_float=value), rows) for value in (0.0, 1.0))
    if per_sample_weights is not None:  # torch allows them in sum mode only
        rows = op.Mul(rows, _column(op.CastLike(per_sample_weights, rows)))
    bag = _bag_of_each_position(indices, offsets)
    # A row per offset. With include_last_offset the last offset ends the last bag (torch's
    # contract: it is the number of indices), and its row is sliced away.
    bag_rows = op.Shape(offsets)
    bags = op.Sub(bag_rows, op.Constant(value_ints=[1])) if include_last_offset else bag_rows
    bag_by_feature = op.Expand(_column(bag), op.Shape(rows))
    table_shape = op.Concat(bag_rows, op.Shape(weight, start=1, end=2), axis=0)

    counted = op.Expand(one, op.Shape(indices))  # 1 where an index counts, 0 for padding_idx
    if padding_idx is not None and padding_idx >= 0:
        counted = op.CastLike(op.Not(op.Equal(indices, op.Constant(value_int=padding_idx))), rows)
    bag_size = op.ScatterElements(op.Expand(zero, bag_rows), bag, counted, reduction="add")

    if mode == MAX:
        lowest = op.CastLike(op.Constant(value_float=float("-inf")), rows)
        candidates = op.Where(_column(op.Cast(counted, to=BOOL.dtype)), rows, lowest)
        output = op.ScatterElements(
            op.Expand(lowest, table_shape), bag_by_feature, candidates, reduction="max"
        )
        output = op.Where(_column(op.Greater(bag_size, zero)), output, zero)  # an empty bag is zeros
        max_indices = _argmax_index(indices, rows, output, bag_by_feature, candidates, table_shape)
    else:
        weighted = op.Mul(rows, _column(counted))
        output = op.ScatterElements(op.Expand(zero, table_shape), bag_by_feature, weighted, reduction="add")
        if mode == MEAN:
            output = op.Div(output, _column(op.Max(bag_size, one)))  # an empty bag stays zeros
        max_indices = op.Cast(bag_size, to=INT64.dtype)

    first = op.Constant(value_ints=[0])
    # torch.onnx annotates each output with torch's meta shapes, which follow its CPU kernel's fast
    # paths (offset2bag is (0,) in sum mode): a fresh value keeps that off `bag`, used above.
    return (
        op.Slice(output, first, bags),
        op.Identity(bag),
        op.Slice(op.Cast(bag_size, to=INT64.dtype), first, bags),
        op.Slice(max_indices, first, bags),
    )


def _column(vector):
    """(n,) -> (n, 1): one value per row, broadcast along the embedding dimension."""
    return op.Unsqueeze(vector, op.Constant(value_ints=[1]))


def _bag_of_each_position(indices, offsets):
    """The bag of every position in `indices`: how many offsets are at or before it, less one.

    A mark per offset (ScatterElements add: repeated offsets are empty bags and count each), then a
    running sum: O(positions + bags), where comparing every position with every offset is their product.
    """
    positions = op.Shape(indices)
    marks = op.Expand(op.Constant(value_int=0), op.Add(positions, op.Constant(value_ints=[1])))
    ones = op.Expand(op.Constant(value_int=1), op.Shape(offsets))
    marks = op.ScatterElements(marks, op.Cast(offsets, to=INT64.dtype), ones, reduction="add")
    running = op.CumSum(marks, op.Constant(value_int=0))
    return op.Sub(op.Slice(running, op.Constant(value_ints=[0]), positions), op.Constant(value_int=1))


def _argmax_index(indices, rows, output, bag_by_feature, candidates, table_shape):
    """max mode's max_indices: per bag and feature, the first index into `weight` that holds the max."""
    reached = op.Equal(candidates, op.GatherElements(output, bag_by_feature, axis=0))
    unreached = op.Constant(value_int=2**62)
    index_by_feature = op.Expand(_column(indices), op.Shape(rows))
    chosen = op.Where(reached, index_by_feature, unreached)
    first = op.ScatterElements(op.Expand(unreached, table_shape), bag_by_feature, chosen, reduction="min")
    return op.Where(op.Equal(first, unreached), op.Constant(value_int=0), first)


def translation_table() -> dict[Any, Any]:
    """{aten overload: ONNX translation}, for torch.onnx.export's `custom_translation_table`."""
    aten = torch.ops.aten
    bag_overloads = (
        aten.embedding_bag.default,
        aten.embedding_bag.padding_idx,
        aten._embedding_bag.default,
        aten._embedding_bag_forward_only.default,
    )
    return dict.fromkeys(bag_overloads, embedding_bag)
