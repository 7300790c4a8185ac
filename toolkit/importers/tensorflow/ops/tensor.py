"""Shape and indexing: Reshape, Shape, Concat, Slice, Gather/Scatter, Pad, Split and friends."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.importers import common
from toolkit.importers.semantics import shapes
from toolkit.importers.tensorflow import layout
from toolkit.importers.tensorflow.ops import axes_tensor, maybe_known, register, tf_dtype

INT64_MAX = np.iinfo(np.int64).max


def _rank(x) -> int:
    rank = x.shape.rank
    if rank is None:
        raise ValueError("the input's rank must be known")
    return rank


def _shape(x, dtype=tf.int64):
    return tf.shape(x, out_type=dtype)


def _positive_indices(indices, size):
    """ONNX allows negative indices counted from the end of the axis."""
    size = tf.cast(size, indices.dtype)
    return tf.where(indices < 0, indices + size, indices)


@register("Constant", since=1)
def constant(
    *,
    value=None,
    value_float=None,
    value_floats=None,
    value_int=None,
    value_ints=None,
    value_string=None,
    value_strings=None,
    sparse_value=None,
):
    array = common.constant_value(
        value, value_float, value_floats, value_int, value_ints, value_string, value_strings, sparse_value
    )
    return tf.constant(array)


@register("Shape", since=1, layout_mode="any")
def shape(data, *, start=0, end=None):
    if isinstance(data, layout.Transposed):
        result = tf.gather(_shape(data.stored), layout.inverse(data.perm))
    else:
        result = _shape(data)
    return result if start == 0 and end is None else result[start:end]  # no slice op for the whole


@register("Size", since=1)
def size(data):
    return tf.size(data, out_type=tf.int64)


@register("Reshape", since=5, layout_mode="any")
def reshape(data, shape, *, allowzero=0, context):
    static = maybe_known(layout.to_onnx(shape))
    if static is None and context.inputs[1] is not None:
        # A target computed from shapes (tf2onnx's einsum): constant once its symbols are resolved.
        resolved = shapes.static_target(
            context.inputs[0] and context.inputs[0].dims(), context.inputs[1].elements
        )
        static = None if resolved is None else np.asarray(resolved, np.int64)
    folded = None if static is None or 0 in static else layout.flattened(data, static.tolist())
    if folded is not None:  # a flatten kept channels-last, for the MatMul weight planned to match
        return folded
    data = layout.to_onnx(data)
    if static is not None and (allowzero or not np.any(static == 0)):
        return tf.reshape(data, tf.constant(static, tf.int64))  # nothing to resolve per call
    shape = layout.to_onnx(shape)
    shape = tf.cast(shape, tf.int64)
    if not allowzero:
        # ONNX Reshape: a 0 copies the input's dimension at that position
        length = shape.shape[0]
        if length is None or data.shape.rank is None:
            length = tf.shape(shape)[0]
            input_shape = tf.concat([_shape(data), tf.zeros([length], tf.int64)], 0)[:length]
        else:  # static lengths: Python slicing, no ops building the bounds per call
            padding = tf.zeros([max(length - data.shape.rank, 0)], tf.int64)
            input_shape = tf.concat([_shape(data)[:length], padding], 0)
        shape = tf.where(tf.equal(shape, 0), input_shape, shape)
    return tf.reshape(data, shape)


@register("Flatten", since=1, layout_mode="any")
def flatten(x, *, axis=1):
    folded = layout.flattened(x) if axis == 1 else None
    if folded is not None:  # kept channels-last, as in Reshape
        return folded
    x = layout.to_onnx(x)
    dims = _shape(x)
    axis = axis + _rank(x) if axis < 0 else axis
    outer = tf.reduce_prod(dims[:axis])
    return tf.reshape(x, tf.stack([outer, tf.reduce_prod(dims[axis:])]))


@register("Concat", since=4, layout_mode="any")
def concat(*inputs, axis):
    perms = {value.perm if isinstance(value, layout.Transposed) else None for value in inputs}
    if len(perms) == 1 and None not in perms:
        perm = perms.pop()
        axis = perm.index(common.normalize_axis(axis, len(perm)))
        return layout.Transposed(tf.concat([value.stored for value in inputs], axis), perm)
    inputs = [layout.to_onnx(value) for value in inputs]
    rank = next((value.shape.rank for value in inputs if value.shape.rank is not None), None)
    if rank is None and axis >= 0:  # every rank known only when run (a Squeeze without axes, traced)
        return tf.concat(inputs, axis)
    return tf.concat(inputs, common.normalize_axis(axis, rank if rank is not None else _rank(inputs[0])))


@register("Transpose", since=1, layout_mode="any")
def transpose(data, *, perm=None):
    stored, stored_perm = (data.stored, data.perm) if isinstance(data, layout.Transposed) else (data, None)
    if stored_perm is None and data.shape.rank is None and perm is not None:
        return tf.transpose(data, list(perm))  # the rank is len(perm), whatever the tracer knows
    rank = len(stored_perm) if stored_perm else _rank(data)
    perm = list(perm) if perm is not None else list(reversed(range(rank)))
    if stored_perm is not None:
        inverse = layout.inverse(stored_perm)
        perm = [inverse[i] for i in perm]  # one transpose of the stored value
    # Lazy: the result is the stored value tagged, materialised only where an op needs it.
    tag = layout.inverse(perm)
    if tag == tuple(range(rank)):
        return stored
    return layout.Transposed(stored, tag)


def _unsqueeze(data, axes):
    if data.shape.rank is None and all(int(a) >= 0 for a in axes):
        positions = sorted(int(a) for a in axes)  # ascending: each insert leaves the later ones right
    else:
        positions = sorted(common.normalize_axes(axes, _rank(data) + len(axes)))
    for axis in positions:
        data = tf.expand_dims(data, axis)
    return data


@register("Unsqueeze", since=1)
def unsqueeze_1(data, *, axes):
    return _unsqueeze(data, axes)


@register("Unsqueeze", since=13)
def unsqueeze(data, axes):
    static = maybe_known(axes)
    if static is not None:
        return _unsqueeze(data, common.as_ints(static))
    # Axes known only at run time: their count (static) fixes the output rank; a reshape does the rest.
    rank = _rank(data) + _length(axes)
    inserted = tf.scatter_nd(axes_tensor(axes, rank)[:, None], tf.ones([_length(axes)], tf.int32), [rank]) > 0
    source = tf.clip_by_value(tf.cumsum(tf.cast(~inserted, tf.int32)) - 1, 0, max(_rank(data) - 1, 0))
    dims = tf.gather(tf.concat([_shape(data), [1]], 0), source)
    return tf.reshape(data, tf.where(inserted, tf.ones_like(dims), dims))


def _squeeze(data, axes):
    if axes is None:
        return tf.squeeze(data)
    return tf.squeeze(data, common.normalize_axes(axes, _rank(data)))


@register("Squeeze", since=1)
def squeeze_1(data, *, axes=None):
    return _squeeze(data, axes)


@register("Squeeze", since=13)
def squeeze(data, axes=None):
    static = maybe_known(axes)
    if axes is None or static is not None:
        return _squeeze(data, None if axes is None else common.as_ints(static))
    # Axes known only at run time: keep the other dimensions, by a reshape.
    rank = _rank(data)
    removed = tf.reduce_any(tf.range(rank)[:, None] == axes_tensor(axes, rank)[None, :], axis=1)
    y = tf.reshape(data, tf.boolean_mask(_shape(data), ~removed))
    return tf.ensure_shape(y, [None] * (rank - _length(axes)))


@register("Expand", since=8)
def expand(x, shape):
    # ONNX Expand broadcasts both ways: a 1 in `shape` keeps the input's dimension.
    target = tf.broadcast_dynamic_shape(_shape(x), tf.cast(shape, tf.int64))
    return tf.broadcast_to(x, target)


@register("Range", since=11)
def range_(start, limit, delta):
    # The reference (np.arange) also takes one-element tensors where the spec says scalars.
    start, limit, delta = (tf.reshape(v, []) for v in (start, limit, delta))
    return tf.range(start, limit, delta, dtype=start.dtype)


def _slice(data, starts, ends, axes, steps):
    rank = _rank(data)
    axes = list(range(len(axes) if axes is not None else _length(starts))) if axes is None else axes
    axes = common.normalize_axes(axes, rank)
    begin = [0] * rank
    end = [0] * rank
    stride = [1] * rank
    mask = sum(1 << i for i in range(rank) if i not in axes)
    known_starts, known_ends = maybe_known(starts), maybe_known(ends)
    known_steps = np.ones(len(axes), np.int64) if steps is None else maybe_known(steps)
    if known_starts is not None and known_ends is not None and known_steps is not None:
        # Known bounds as Python ints: the result keeps a static shape, which XLA and later
        # Reshapes need, and the traced graph does no scatter per call.
        for axis, first, last, step in zip(axes, known_starts, known_ends, known_steps, strict=True):
            begin[axis], end[axis], stride[axis] = (
                int(np.clip(v, -(2**62), 2**62)) for v in (first, last, step)
            )
        begin, end, stride = (tf.constant(v, tf.int64) for v in (begin, end, stride))
        return tf.strided_slice(data, begin, end, stride, begin_mask=mask, end_mask=mask)
    starts, ends = tf.cast(starts, tf.int64), tf.cast(ends, tf.int64)
    steps = tf.ones_like(starts) if steps is None else tf.cast(steps, tf.int64)
    positions = tf.constant([[a] for a in axes], tf.int32)
    begin = tf.tensor_scatter_nd_update(tf.constant(begin, tf.int64), positions, starts)
    end = tf.tensor_scatter_nd_update(tf.constant(end, tf.int64), positions, ends)
    stride = tf.tensor_scatter_nd_update(tf.constant(stride, tf.int64), positions, steps)
    # Clamp the spec's INT64 sentinels so that strided_slice's own clamping applies.
    limit = tf.constant(2**62, tf.int64)
    begin, end = tf.clip_by_value(begin, -limit, limit), tf.clip_by_value(end, -limit, limit)
    return tf.strided_slice(data, begin, end, stride, begin_mask=mask, end_mask=mask)


def _length(values) -> int:
    return int(values.shape[0])


@register("Slice", since=1)
def slice_1(data, *, starts, ends, axes=None):
    return _slice(data, tf.constant(starts, tf.int64), tf.constant(ends, tf.int64), axes, None)


@register("Slice", since=10)
def slice_(data, starts, ends, axes=None, steps=None):
    if axes is None and starts.shape.rank == 1 and starts.shape[0] is None:
        # ONNX: no axes means the first len(starts) axes; that length is known only at run time
        # (starts sliced out of a run-time tensor, EmbeddingBag's offsets in a Loop).
        axes = tf.range(tf.size(starts, out_type=tf.int64))
    static = maybe_known(axes)
    if axes is None or static is not None:
        return _slice(data, starts, ends, None if axes is None else common.as_ints(static), steps)
    # Axes known only at run time: every axis sliced, the unlisted ones from 0 to their size.
    positions = tf.cast(axes_tensor(axes, _rank(data)), tf.int64)[:, None]
    starts, ends = tf.cast(starts, tf.int64), tf.cast(ends, tf.int64)
    steps = tf.ones_like(starts) if steps is None else tf.cast(steps, tf.int64)
    limit = tf.constant(2**62, tf.int64)
    begin = tf.tensor_scatter_nd_update(tf.zeros([_rank(data)], tf.int64), positions, starts)
    end = tf.tensor_scatter_nd_update(_shape(data), positions, ends)
    stride = tf.tensor_scatter_nd_update(tf.ones([_rank(data)], tf.int64), positions, steps)
    begin, end = tf.clip_by_value(begin, -limit, limit), tf.clip_by_value(end, -limit, limit)
    return tf.strided_slice(data, begin, end, stride)


@register("Gather", since=1)
def gather(data, indices, *, axis=0):
    axis = common.normalize_axis(axis, _rank(data))
    static = maybe_known(indices)
    if static is not None and np.all(static >= 0):
        # Known non-negative indices (tf2onnx's Shape → Gather): no run-time sign fix per call.
        return tf.gather(data, tf.constant(static), axis=axis)
    indices = _positive_indices(indices, tf.shape(data, out_type=indices.dtype)[axis])
    return tf.gather(data, indices, axis=axis)


def _full_indices(indices, axis):
    """ScatterElements/GatherElements index grid: every coordinate, with `indices` along `axis`."""
    shape = tf.shape(indices, out_type=tf.int64)
    rank = _rank(indices)
    grids = tf.meshgrid(*[tf.range(shape[i]) for i in range(rank)], indexing="ij")
    grids[axis] = tf.cast(indices, tf.int64)
    return tf.stack(grids, axis=-1)


@register("GatherElements", since=11)
def gather_elements(data, indices, *, axis=0):
    axis = common.normalize_axis(axis, _rank(data))
    indices = _positive_indices(indices, tf.shape(data, out_type=indices.dtype)[axis])
    return tf.gather_nd(data, _full_indices(indices, axis))


@register("GatherND", since=11)
def gather_nd(data, indices, *, batch_dims=0):
    return tf.gather_nd(data, indices, batch_dims=batch_dims)


def _scatter_nd(data, indices, updates, reduction):
    indices = tf.cast(indices, tf.int64)
    if reduction == "none":
        return tf.tensor_scatter_nd_update(data, indices, updates)
    if reduction == "add":
        return tf.tensor_scatter_nd_add(data, indices, updates)
    if reduction == "max":
        return tf.tensor_scatter_nd_max(data, indices, updates)
    if reduction == "min":
        return tf.tensor_scatter_nd_min(data, indices, updates)
    if reduction == "mul":
        # No multiplying scatter in TF: multiply by the product of the updates per target slice.
        depth = indices.shape[-1]
        outer = _shape(data)[:depth]
        inner = _shape(data)[depth:]
        strides = tf.math.cumprod(outer, exclusive=True, reverse=True)
        targets = tf.reshape(tf.reduce_sum(indices * strides, axis=-1), [-1])
        factors = tf.math.unsorted_segment_prod(
            tf.reshape(updates, tf.concat([[-1], inner], 0)), targets, tf.reduce_prod(outer)
        )
        return data * tf.reshape(factors, tf.shape(data))
    raise ValueError(f"reduction {reduction!r}")


@register("ScatterND", since=11)
def scatter_nd(data, indices, updates, *, reduction="none"):
    return _scatter_nd(data, indices, updates, reduction)


@register("ScatterElements", since=11)
def scatter_elements(data, indices, updates, *, axis=0, reduction="none"):
    axis = common.normalize_axis(axis, _rank(data))
    indices = _positive_indices(indices, tf.shape(data, out_type=indices.dtype)[axis])
    return _scatter_nd(data, _full_indices(indices, axis), updates, reduction)


@register("Scatter", since=9)
def scatter(data, indices, updates, *, axis=0):
    return scatter_elements(data, indices, updates, axis=axis)


@register("ConstantOfShape", since=9)
def constant_of_shape(shape, *, value=None):
    value = np.zeros([1], np.float32) if value is None else value
    return tf.fill(tf.cast(shape, tf.int64), tf.constant(value.reshape(()), tf.as_dtype(value.dtype)))


@register("Split", since=2)
def split_2(data, *, axis=0, split=None, context):
    return _split(data, axis, split, context.num_outputs)


@register("Split", since=13)
def split_13(data, split=None, *, axis=0, context):
    return _split(data, axis, split, context.num_outputs)


@register("Split", since=18)
def split(data, split=None, *, axis=0, num_outputs=None, context):
    return _split(data, axis, split, context.num_outputs)


def _split(data, axis, sizes, count):
    if data.shape.rank is not None:
        axis = common.normalize_axis(axis, data.shape.rank)
    elif axis < 0:  # rank known only when run (a Squeeze without axes under tracing)
        axis = tf.rank(data) + axis
    if sizes is not None:
        return tuple(tf.split(data, tf.cast(sizes, tf.int64), axis=axis, num=count))
    dim = tf.shape(data, out_type=tf.int64)[axis]
    chunk = -(-dim // count)  # ONNX Split (opset 18): the last chunk may be smaller
    sizes = tf.concat([tf.fill([count - 1], chunk), [dim - chunk * (count - 1)]], 0)
    return tuple(tf.split(data, sizes, axis=axis, num=count))


@register("Tile", since=6)
def tile(x, repeats):
    return tf.tile(x, tf.cast(repeats, tf.int64))


def _pad(data, pads, mode, value, axes=None):
    rank = _rank(data)
    pairs = common.split_pads(pads)
    if axes is not None:
        full = [(0, 0)] * rank
        for axis, pair in zip(common.normalize_axes(axes, rank), pairs, strict=True):
            full[axis] = pair
        pairs = full
    # Negative pads crop.
    if any(b < 0 or e < 0 for b, e in pairs):
        data = data[tuple(slice(max(-b, 0), None if e >= 0 else e) for b, e in pairs)]
        pairs = [(max(b, 0), max(e, 0)) for b, e in pairs]
    if mode == "constant":
        value = tf.zeros([], data.dtype) if value is None else tf.reshape(tf.cast(value, data.dtype), [])
        return tf.pad(data, pairs, constant_values=value)
    if mode == "reflect":
        return tf.pad(data, pairs, mode="REFLECT")
    for axis, (begin, end) in enumerate(pairs):
        if begin == end == 0:
            continue
        dim = tf.shape(data)[axis]
        positions = tf.range(-begin, dim + end)
        if mode == "edge":
            positions = tf.clip_by_value(positions, 0, dim - 1)
        else:  # wrap
            positions = tf.math.floormod(positions, dim)
        data = tf.gather(data, positions, axis=axis)
    return data


@register("Pad", since=2)
def pad_2(data, *, pads, mode="constant", value=0.0):
    return _pad(data, pads, mode, tf.constant(value))


@register("Pad", since=11)
def pad(data, pads, constant_value=None, axes=None, *, mode="constant"):
    static_pads, static_axes = maybe_known(pads), maybe_known(axes)
    if static_pads is not None and (axes is None or static_axes is not None):
        axes = None if axes is None else common.as_ints(static_axes)
        return _pad(data, common.as_ints(static_pads), mode, constant_value, axes)
    return _pad_dynamic(data, pads, mode, constant_value, axes)


def _pad_dynamic(data, pads, mode, value, axes):
    """Pad with pads (and axes) known only at run time: a [rank, 2] paddings tensor for tf.pad."""
    rank = _rank(data)
    pairs = tf.transpose(tf.reshape(tf.cast(pads, tf.int32), [2, -1]))
    if axes is not None:
        pairs = tf.scatter_nd(axes_tensor(axes, rank)[:, None], pairs, [rank, 2])
    # Negative pads crop.
    crop = tf.maximum(-pairs, 0)
    data = tf.slice(data, crop[:, 0], tf.shape(data) - crop[:, 0] - crop[:, 1])
    pairs = tf.maximum(pairs, 0)
    if mode == "constant":
        value = tf.zeros([], data.dtype) if value is None else tf.reshape(tf.cast(value, data.dtype), [])
        return tf.pad(data, pairs, constant_values=value)
    if mode == "reflect":
        return tf.pad(data, pairs, mode="REFLECT")
    for axis in range(rank):
        dim = tf.shape(data)[axis]
        positions = tf.range(-pairs[axis, 0], dim + pairs[axis, 1])
        if mode == "edge":
            positions = tf.clip_by_value(positions, 0, dim - 1)
        else:  # wrap
            positions = tf.math.floormod(positions, dim)
        data = tf.gather(data, positions, axis=axis)
    return data


@register("Trilu", since=14)
def trilu(x, k=None, *, upper=1):
    k = tf.constant(0, tf.int64) if k is None else tf.cast(k, tf.int64)
    shape = tf.shape(x, out_type=tf.int64)
    rows = tf.range(shape[-2])[:, None]
    columns = tf.range(shape[-1])[None, :]
    keep = columns - rows >= k if upper else columns - rows <= k
    return tf.where(keep, x, tf.zeros_like(x))


@register("OneHot", since=9)
def one_hot(indices, depth, values, *, axis=-1):
    depth = tf.cast(tf.reshape(depth, []), tf.int64)
    indices = tf.cast(indices, tf.int64)
    indices = tf.where(indices < 0, indices + depth, indices)
    axis = common.normalize_axis(axis, _rank(indices) + 1)
    return tf.one_hot(indices, tf.cast(depth, tf.int32), values[1], values[0], axis=axis, dtype=values.dtype)


@register("TopK", since=10)
def top_k_10(x, k, *, axis=-1):
    return _top_k(x, k, axis, 1)


@register("TopK", since=11)
def top_k(x, k, *, axis=-1, largest=1, sorted=1):  # noqa: A002
    return _top_k(x, k, axis, largest)


def _top_k(x, k, axis, largest):
    rank = _rank(x)
    axis = common.normalize_axis(axis, rank)
    perm = [*[i for i in range(rank) if i != axis], axis]
    moved = tf.transpose(x, perm) if axis != rank - 1 else x
    k = tf.cast(tf.reshape(k, []), tf.int32)
    if largest:
        values, indices = tf.math.top_k(moved, k)
    else:
        # Smallest first: top_k of the negation keeps ties in index order.
        _, indices = tf.math.top_k(-moved if not moved.dtype.is_unsigned else ~moved, k)
        values = tf.gather(moved, indices, batch_dims=rank - 1)
    if axis != rank - 1:
        back = layout.inverse(perm)
        values, indices = tf.transpose(values, back), tf.transpose(indices, back)
    return values, tf.cast(indices, tf.int64)


def _arg(function, data, axis, keepdims, select_last_index):
    axis = common.normalize_axis(axis, _rank(data))
    if select_last_index:
        reversed_data = tf.reverse(data, [axis])
        result = tf.shape(data, out_type=tf.int64)[axis] - 1 - function(reversed_data, axis=axis)
    else:
        result = function(data, axis=axis)
    result = tf.cast(result, tf.int64)
    return tf.expand_dims(result, axis) if keepdims else result


@register("ArgMax", since=1)
def arg_max(data, *, axis=0, keepdims=1, select_last_index=0):
    return _arg(tf.argmax, data, axis, keepdims, select_last_index)


@register("ArgMin", since=1)
def arg_min(data, *, axis=0, keepdims=1, select_last_index=0):
    return _arg(tf.argmin, data, axis, keepdims, select_last_index)


@register("NonZero", since=9)
def non_zero(x):
    return tf.transpose(tf.where(tf.not_equal(x, tf.zeros_like(x))))


@register("Compress", since=9)
def compress(x, condition, *, axis=None):
    condition = tf.cast(condition, tf.bool)
    if axis is None:
        x = tf.reshape(x, [-1])
        axis = 0
    axis = common.normalize_axis(axis, _rank(x))
    length = tf.shape(condition)[0]
    x = tf.gather(x, tf.range(length), axis=axis) if x.shape[axis] != condition.shape[0] else x
    return tf.boolean_mask(x, condition, axis=axis)


@register("CumSum", since=11)
def cum_sum(x, axis, *, exclusive=0, reverse=0):
    return tf.cumsum(x, tf.reshape(axis, []), exclusive=bool(exclusive), reverse=bool(reverse))


@register("CumProd", since=26)
def cum_prod(x, axis, *, exclusive=0, reverse=0):
    return tf.math.cumprod(x, tf.reshape(axis, []), exclusive=bool(exclusive), reverse=bool(reverse))


@register("EyeLike", since=9)
def eye_like(x, *, dtype=None, k=0):
    shape = tf.shape(x, out_type=tf.int64)
    rows = tf.range(shape[0])[:, None]
    columns = tf.range(shape[1])[None, :]
    target = x.dtype if dtype is None else tf_dtype(dtype)
    return tf.cast(tf.equal(columns - rows, k), target)


@register("DepthToSpace", since=1)
def depth_to_space(x, *, blocksize, mode="DCR"):
    shape = tf.shape(x, out_type=tf.int64)
    n, c, h, w = shape[0], shape[1], shape[2], shape[3]
    b = blocksize
    if mode == "DCR":
        y = tf.reshape(x, tf.stack([n, b, b, c // (b * b), h, w]))
        y = tf.transpose(y, [0, 3, 4, 1, 5, 2])
    else:  # CRD
        y = tf.reshape(x, tf.stack([n, c // (b * b), b, b, h, w]))
        y = tf.transpose(y, [0, 1, 4, 2, 5, 3])
    return tf.reshape(y, tf.stack([n, c // (b * b), h * b, w * b]))


@register("SpaceToDepth", since=1)
def space_to_depth(x, *, blocksize, mode="DCR"):
    shape = tf.shape(x, out_type=tf.int64)
    n, c, h, w = shape[0], shape[1], shape[2], shape[3]
    b = blocksize
    y = tf.reshape(x, tf.stack([n, c, h // b, b, w // b, b]))
    # DCR: depth index (bh * b + bw) * C + c; CRD (opset 25): c * b * b + bh * b + bw
    y = tf.transpose(y, [0, 3, 5, 1, 2, 4] if mode == "DCR" else [0, 1, 3, 5, 2, 4])
    return tf.reshape(y, tf.stack([n, c * b * b, h // b, w // b]))


@register("ReverseSequence", since=10)
def reverse_sequence(x, sequence_lens, *, batch_axis=1, time_axis=0):
    return tf.reverse_sequence(x, sequence_lens, seq_axis=time_axis, batch_axis=batch_axis)


@register("Einsum", since=12)
def einsum(*inputs, equation):
    return tf.einsum(equation.replace(" ", ""), *inputs)


def _unique_slices(x, axis, sort):
    """Unique along an axis: slices compared whole, pairwise (n^2 comparisons of the slices)."""
    axis %= x.shape.rank
    moved = tf.experimental.numpy.moveaxis(x, axis, 0)
    count = tf.shape(moved, out_type=tf.int64)[0]
    rows = tf.reshape(moved, tf.stack([count, -1]))
    if rows.dtype == tf.bool:
        rows = tf.cast(rows, tf.int8)
    different = tf.not_equal(rows[:, None, :], rows[None, :, :])  # [n, n, slice size]
    equal = ~tf.reduce_any(different, axis=-1)
    first_of = tf.argmax(tf.cast(equal, tf.int32), axis=1, output_type=tf.int64)  # first slice equal to each
    positions = tf.range(count)
    firsts = tf.boolean_mask(positions, tf.equal(first_of, positions))  # in order of first occurrence
    if sort:
        # ONNX Unique sorted=1 orders slices lexicographically: compare at the first differing element.
        column = tf.argmax(tf.cast(different, tf.int32), axis=-1, output_type=tf.int64)
        mine = tf.gather(rows, column, axis=1, batch_dims=1)  # [i, j] = rows[i, column[i, j]]
        theirs = tf.transpose(tf.gather(rows, tf.transpose(column), axis=1, batch_dims=1))
        less = ~equal & (mine < theirs)  # [i, j]: slice i before slice j
        less = tf.gather(tf.gather(less, firsts), firsts, axis=1)
        rank = tf.reduce_sum(tf.cast(less, tf.int64), axis=0)  # how many unique slices come before each
        firsts = tf.gather(firsts, tf.argsort(rank, stable=True))
    inverse = tf.argmax(
        tf.cast(tf.equal(first_of[:, None], firsts[None, :]), tf.int32), axis=1, output_type=tf.int64
    )
    counts = tf.math.unsorted_segment_sum(tf.ones_like(inverse), inverse, tf.size(firsts, out_type=tf.int64))
    return tf.gather(x, firsts, axis=axis), firsts, inverse, counts


@register("Unique", since=11)
def unique(x, *, axis=None, sorted=1):  # noqa: A002
    if axis is not None:
        return _unique_slices(x, axis, sorted)
    flat = tf.reshape(x, [-1])
    values, inverse = tf.unique(flat, out_idx=tf.int64)
    if sorted:
        order = tf.argsort(values, stable=True)
        values = tf.gather(values, order)
        inverse = tf.cast(tf.gather(tf.argsort(order), inverse), tf.int64)
    first = tf.math.unsorted_segment_min(
        tf.range(tf.size(flat, out_type=tf.int64)), inverse, tf.size(values, out_type=tf.int64)
    )
    counts = tf.math.bincount(tf.cast(inverse, tf.int32), minlength=tf.size(values), dtype=tf.int64)
    return values, first, inverse, counts


@register("StringConcat", since=20)
def string_concat(x, y):
    shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y))
    return tf.strings.join([tf.broadcast_to(x, shape), tf.broadcast_to(y, shape)])


@register("RegexFullMatch", since=20)
def regex_full_match(x, *, pattern):
    return tf.strings.regex_full_match(x, pattern)


@register("StringNormalizer", since=10)
def string_normalizer(x, *, case_change_action="NONE", is_case_sensitive=0, locale=None, stopwords=None):
    flat = tf.reshape(x, [-1])
    if stopwords:
        compare = flat if is_case_sensitive else tf.strings.lower(flat)
        words = stopwords if is_case_sensitive else [w.lower() for w in stopwords]
        keep = tf.reduce_all(tf.not_equal(compare[:, None], tf.constant(words)[None, :]), axis=1)
        flat = tf.boolean_mask(flat, keep)
    if case_change_action == "LOWER":
        flat = tf.strings.lower(flat)
    elif case_change_action == "UPPER":
        flat = tf.strings.upper(flat)
    # ONNX StringNormalizer: everything filtered out gives one empty string.
    flat = tf.cond(tf.size(flat) > 0, lambda: flat, lambda: tf.constant([""]))
    return flat if x.shape.rank == 1 else tf.reshape(flat, [1, -1])


def _tensor_scatter_check(attributes, context):
    mode = attributes["mode"]
    return "" if mode in ("linear", "circular") else f"mode={mode!r} is not one of linear, circular"


@register("TensorScatter", since=24, check=_tensor_scatter_check)
def tensor_scatter(past_cache, update, write_indices=None, *, axis=-2, mode="linear"):
    # ONNX TensorScatter: batch b's update goes along `axis` from write_indices[b] (0 without them).
    axis %= past_cache.shape.rank
    cache = tf.experimental.numpy.moveaxis(past_cache, axis, 1)  # [batch, max sequence, ...]
    update = tf.experimental.numpy.moveaxis(update, axis, 1)  # [batch, sequence, ...]
    batch, length = tf.shape(update, out_type=tf.int64)[0], tf.shape(update, out_type=tf.int64)[1]
    start = tf.zeros([batch], tf.int64) if write_indices is None else tf.cast(write_indices, tf.int64)
    position = start[:, None] + tf.range(length)[None, :]
    if mode == "circular":
        position = tf.math.floormod(position, tf.shape(cache, out_type=tf.int64)[1])
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(position))
    present = tf.tensor_scatter_nd_update(cache, tf.stack([rows, position], axis=-1), update)
    return tf.experimental.numpy.moveaxis(present, 1, axis)
