"""ONNX translations of aten ops that replace torch.onnx's own where its graph fails consumers.

Both torch.onnx exporters take them through their public hooks: the dynamo exporter's
`custom_translation_table` (torch.onnx keeps every op that its torchlib translates out of its
decompositions, so a torch-level `run_decompositions` would have to capture the program itself and
lose torch.onnx's capture strategies), and the TorchScript exporter's custom symbolics, registered
only while it runs. Each rule is written once against onnxscript's `op.X(*inputs, **attributes)`;
`_TorchScriptOps` spells the same calls as TorchScript's `g.op("X", ..., attribute_i=...)`.

EmbeddingBag: torchlib lowers `aten::_embedding_bag` and `aten::embedding_bag` to a Loop with no
trip count, one bag per iteration, appending each row to a sequence (pytorch/pytorch#138485), and
the TorchScript exporter to a Loop over the bags. No consumer can give either a fixed-shape
program: torch.export's while_loop needs carries of fixed shape, so the torch importer runs them
eagerly and there is no .pt2 or .py. Here it is a gather and a segment reduction: each index's bag
comes from a running count of the offsets at or before it (ScatterElements add, then CumSum), and
ScatterND with reduction add (sum, mean) or max folds the rows into their bags, whole rows at a
time. Empty bags give zeros in every mode, as torch's do. Scatter reductions take max from opset
18: below it (the TorchScript exporter's opset 17) max lays each bag out in a padded block and takes
ArgMax. They add from opset 16: below it the exporter's own Loop stays.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from onnxscript import BOOL, INT64, opset18

# aten::_embedding_bag's `mode`.
SUM, MEAN, MAX = 0, 1, 2
# ScatterElements/ScatterND reduce (add) from opset 16 and take max from opset 18.
LOWEST_OPSET, SCATTER_MAX_OPSET = 16, 18
# torch.onnx's dynamo exporter builds opset 18 and converts to an older opset asked for afterwards.
DYNAMO_BUILD_OPSET = 18


def embedding_bag_graph(
    op, opset, weight, indices, offsets, mode, per_sample_weights, include_last_offset, padding_idx
):
    """(output, offset2bag, bag_size, max_indices) of aten::embedding_bag, built with `op` for `opset`.

    torch.nn.functional.embedding_bag passes 1-D indices and offsets starting at 0; `padding_idx`
    is aten::embedding_bag.padding_idx's: None for none, a negative one counted from the end. offset2bag is each index's bag; bag_size and max_indices
    are torch's in mean and max mode (its backward reads them; in sum mode torch's fast path leaves
    them zeros, here they are bag_size). The forward and torch.nn.EmbeddingBag read the output alone.
    """
    indices = op.Reshape(indices, op.Constant(value_ints=[-1]))
    rows = op.Gather(weight, indices, axis=0)  # (positions, dim)
    zero, one = (op.CastLike(op.Constant(value_float=value), rows) for value in (0.0, 1.0))
    if per_sample_weights is not None:  # torch allows them in sum mode only
        rows = op.Mul(rows, _column(op, op.CastLike(per_sample_weights, rows)))
    bag = _bag_of_each_position(op, indices, offsets)
    # A row per offset. With include_last_offset the last offset ends the last bag (torch's
    # contract: it is the number of indices), and its row is sliced away.
    bag_rows = op.Shape(offsets)
    bags = op.Sub(bag_rows, op.Constant(value_ints=[1])) if include_last_offset else bag_rows
    # Slice, not Shape(start=1): TorchScript's constant folding reads Shape without its start and end.
    embedding_dim = op.Slice(op.Shape(weight), op.Constant(value_ints=[1]), op.Constant(value_ints=[2]))
    table_shape = op.Concat(bag_rows, embedding_dim, axis=0)

    counted = op.Expand(one, op.Shape(indices))  # 1 where an index counts, 0 for padding_idx
    if padding_idx is not None:
        padding = op.Constant(value_ints=[padding_idx])
        if padding_idx < 0:  # counted from the end of `weight`
            num_embeddings = op.Slice(
                op.Shape(weight), op.Constant(value_ints=[0]), op.Constant(value_ints=[1])
            )
            padding = op.Add(padding, num_embeddings)
        counted = op.CastLike(op.Not(op.Equal(indices, padding)), rows)
    bag_size = op.ScatterElements(op.Expand(zero, bag_rows), bag, counted, reduction="add")

    if mode == MAX:
        lowest = op.CastLike(op.Constant(value_float=float("-inf")), rows)
        candidates = op.Where(_column(op, op.Cast(counted, to=BOOL.dtype)), rows, lowest)
        if opset >= SCATTER_MAX_OPSET:
            output = op.ScatterND(
                op.Expand(lowest, table_shape), _column(op, bag), candidates, reduction="max"
            )
            max_indices = _argmax_index(op, indices, rows, output, bag, candidates, table_shape)
        else:
            output, max_indices = _dense_bag_max(
                op, indices, offsets, bag, candidates, bag_rows, embedding_dim
            )
        filled = _column(op, op.Greater(bag_size, zero))  # an empty bag is zeros, its max_indices too
        output = op.Where(filled, output, zero)
        max_indices = op.Where(filled, max_indices, op.Constant(value_int=0))
    else:
        weighted = op.Mul(rows, _column(op, counted))
        # ScatterND adds whole rows: onnxruntime's ScatterElements walks every element with its own index.
        output = op.ScatterND(op.Expand(zero, table_shape), _column(op, bag), weighted, reduction="add")
        if mode == MEAN:
            output = op.Div(output, _column(op, op.Max(bag_size, one)))  # an empty bag stays zeros
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


def _column(op, vector):
    """(n,) -> (n, 1): one value per row, broadcast along the embedding dimension."""
    return op.Unsqueeze(vector, op.Constant(value_ints=[1]))


def _bag_of_each_position(op, indices, offsets):
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


def _argmax_index(op, indices, rows, output, bag, candidates, table_shape):
    """max mode's max_indices: per bag and feature, the lowest index into `weight` that holds the max."""
    reached = op.Equal(candidates, op.Gather(output, bag, axis=0))
    unreached = op.Constant(value_int=2**62)
    index_by_feature = op.Expand(_column(op, indices), op.Shape(rows))
    chosen = op.Where(reached, index_by_feature, unreached)
    return op.ScatterND(op.Expand(unreached, table_shape), _column(op, bag), chosen, reduction="min")


def _dense_bag_max(op, indices, offsets, bag, candidates, bag_rows, embedding_dim):
    """Max mode below opset 18 (no scatter max): (output, max_indices), bags with no
    counted index at -inf. The rows are laid out as a (bags, longest bag, dim) block filled with
    -inf, then ArgMax along each bag: memory grows with bags x the longest bag, not with the indices."""
    ones = op.Expand(op.Constant(value_int=1), op.Shape(indices))
    position = op.Sub(op.CumSum(ones, op.Constant(value_int=0)), op.Constant(value_int=1))
    slot = op.Sub(position, op.Gather(op.Cast(offsets, to=INT64.dtype), bag, axis=0))  # place in its bag
    # The largest slot, plus one: over a trailing 0, so that no indices still make a block one slot
    # long; by ArgMax, which is the same in every opset (ReduceMax's axes moved to an input in 18).
    slots = op.Concat(slot, op.Constant(value_ints=[0]), axis=0)
    largest = op.Gather(slots, op.ArgMax(slots, axis=0, keepdims=1), axis=0)
    longest = op.Add(largest, op.Constant(value_ints=[1]))
    place = op.Concat(_column(op, bag), _column(op, slot), axis=1)  # (positions, 2)
    block_shape = op.Concat(bag_rows, longest, embedding_dim, axis=0)
    lowest = op.CastLike(op.Constant(value_float=float("-inf")), candidates)
    block = op.ScatterND(op.Expand(lowest, block_shape), place, candidates)
    best = op.ArgMax(block, axis=1, keepdims=1)  # (bags, 1, dim): the first slot holding the max
    index_block = op.ScatterND(
        op.Expand(op.Constant(value_int=0), op.Concat(bag_rows, longest, axis=0)), place, indices
    )
    index_block = op.Expand(op.Unsqueeze(index_block, op.Constant(value_ints=[2])), block_shape)
    middle = op.Constant(value_ints=[1])
    return (
        op.Squeeze(op.GatherElements(block, best, axis=1), middle),
        op.Squeeze(op.GatherElements(index_block, best, axis=1), middle),
    )


def translation_table(opset: int | None = None) -> dict[Any, Any]:
    """{aten overload: ONNX translation} for the dynamo exporter's `custom_translation_table`."""
    from onnxscript.function_libs.torch_lib.ops.core import aten_embedding_bag_padding_idx

    target = opset or DYNAMO_BUILD_OPSET

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
        """aten::embedding_bag(.padding_idx); the gradient's flags unused."""
        if target < LOWEST_OPSET:
            return aten_embedding_bag_padding_idx(
                weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
                include_last_offset, padding_idx,
            )  # fmt: skip
        return embedding_bag_graph(
            opset18, target, weight, indices, offsets, mode, per_sample_weights, include_last_offset, padding_idx,
        )  # fmt: skip

    def wrapped_embedding_bag(
        weight,
        indices,
        offsets,
        scale_grad_by_freq: bool = False,
        mode: int = SUM,
        sparse: bool = False,
        per_sample_weights=None,
        include_last_offset: bool = False,
        padding_idx: int = -1,
    ):
        """aten::_embedding_bag(_forward_only), which embedding_bag calls with padding_idx wrapped (-1: none)."""
        padding = None if padding_idx < 0 else padding_idx
        return embedding_bag(
            weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
            include_last_offset, padding,
        )  # fmt: skip

    aten = torch.ops.aten
    return {
        aten.embedding_bag.default: embedding_bag,
        aten.embedding_bag.padding_idx: embedding_bag,
        aten._embedding_bag.default: wrapped_embedding_bag,
        aten._embedding_bag_forward_only.default: wrapped_embedding_bag,
    }


@contextlib.contextmanager
def torchscript_symbolics(opset: int) -> Iterator[None]:
    """The same translations as the TorchScript exporter's custom symbolics, while it exports at `opset`."""
    from torch.onnx import symbolic_helper, symbolic_opset11

    @symbolic_helper.parse_args("v", "v", "v", "i", "i", "i", "v", "i", "i")
    def embedding_bag(
        g, weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights, include_last_offset, padding_idx
    ):  # fmt: skip
        if opset < LOWEST_OPSET:
            return symbolic_opset11.embedding_bag(
                g, weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
                include_last_offset, padding_idx,
            )  # fmt: skip
        weights = None if symbolic_helper._is_none(per_sample_weights) else per_sample_weights
        return embedding_bag_graph(
            _TorchScriptOps(g),
            opset,
            weight,
            indices,
            offsets,
            mode,
            weights,
            include_last_offset,
            padding_idx,
        )

    torch.onnx.register_custom_op_symbolic("aten::embedding_bag", embedding_bag, opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::embedding_bag", opset)


class _TorchScriptOps:
    """onnxscript's `op.X(*inputs, **attributes)` as TorchScript's `g.op("X", *inputs, name_<kind>=...)`."""

    def __init__(self, graph):
        self._graph = graph

    def __getattr__(self, op_type: str):
        def build(*inputs, **attributes):
            if op_type == "Constant":
                ((name, value),) = attributes.items()
                dtype = torch.float32 if name.startswith("value_float") else torch.int64
                return self._graph.op("Constant", value_t=torch.tensor(value, dtype=dtype))
            return self._graph.op(op_type, *inputs, **dict(map(_suffixed, attributes.items())))

        return build


def _suffixed(attribute: tuple[str, Any]) -> tuple[str, Any]:
    """("to", INT64.dtype) -> ("to_i", 7): g.op names an attribute's kind in its keyword."""
    name, value = attribute
    if isinstance(value, str):
        return f"{name}_s", value
    if isinstance(value, float):
        return f"{name}_f", value
    return f"{name}_i", int(value)  # ints, bools and onnx_ir's DataType (an int enum)
