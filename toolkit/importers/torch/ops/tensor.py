"""Shape and indexing operators: Shape, Reshape, Slice, Gather, Scatter, Pad, Expand, sequences, ...

Values that decide shapes (a Reshape's shape, Slice's starts) are read with `known`: a constant
while building gives plain torch calls; otherwise the handler raises NeedsValues and the builder
runs the node on real tensors, so batch and sequence length stay free to vary between calls.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from toolkit.importers.common import constant_value, normalize_axes, normalize_axis
from toolkit.importers.torch.dtypes import TORCH_DTYPES, to_numpy, to_torch
from toolkit.importers.torch.ops.symbolic import sizes_of, symbolic_ints, with_symbolic
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.unsigned import unsigned_via_int64
from toolkit.importers.torch.ops.values import (
    NeedsValues,
    as_tensor,
    dims,
    dtype_of,
    is_proxy,
    leaf,
    maybe_known,
    maybe_known_ints,
    rank,
    static_dims,
)


def _require(values):
    if values is None:
        raise NeedsValues("a value that decides a shape is known only at run time")
    return values


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
    array = constant_value(
        value, value_float, value_floats, value_int, value_ints, value_string, value_strings, sparse_value
    )
    return to_torch(array)


@register("Shape", since=1)
def shape(data, *, start=0, end=None):
    sizes = dims(data)
    selected = slice(start, end)
    if all(d is not None for d in sizes[selected]):
        return torch.tensor(sizes[selected], dtype=torch.int64)
    return with_symbolic(_shape_as_tensor(data)[selected], sizes_of(data)[selected])


def _shape_as_tensor(data):
    """x.shape as an int64 tensor from per-axis sizes: torch.export cannot trace aten._shape_as_tensor."""
    rank = len(dims(data))
    if rank == 0:
        return torch.zeros(0, dtype=torch.int64)
    return torch.stack([torch.scalar_tensor(data.size(axis), dtype=torch.int64) for axis in range(rank)])


@register("Size", since=1)
def size(data):
    sizes = dims(data)
    if all(d is not None for d in sizes):
        return torch.tensor(int(np.prod(sizes, dtype=np.int64)), dtype=torch.int64)
    return _shape_as_tensor(data).prod()


def _size(x, axis: int):
    """Dimension `axis`: an int when known while building, else recorded as x.shape[axis]."""
    try:
        d = dims(x)[axis]
    except NeedsValues:
        d = None
    return d if d is not None else x.shape[axis]


@leaf
def reshape_at_run_time(data, shape, allowzero: int):
    """Reshape to a shape that is data, not sizes (ONNX Reshape: 0 copies the input's dimension)."""
    sizes = [int(s) for s in shape.tolist()]
    if not allowzero:
        sizes = [data.shape[i] if s == 0 else s for i, s in enumerate(sizes)]
    return data.reshape(sizes)


def _reshape_under_export(data, shape, allowzero: int):
    """reshape_at_run_time while torch.export traces: the example's shape, which the program
    asserts (export.py). The leaf itself stays plain torch, for the generated .py."""
    sizes = maybe_known_ints(shape)
    if sizes is None:
        return reshape_at_run_time.leaf_function(data, shape, allowzero)
    if not allowzero:
        sizes = [data.shape[i] if s == 0 else s for i, s in enumerate(sizes)]
    return data.reshape(sizes)


reshape_at_run_time.leaf_function.under_export = _reshape_under_export


@register("Reshape", since=5)
def reshape(data, shape, *, allowzero=0):
    target = symbolic_ints(shape)
    if target is None:
        return reshape_at_run_time(data, shape, allowzero)
    if not allowzero:
        # ONNX Reshape: 0 copies the input's dimension (unless allowzero=1).
        target = [_size(data, i) if isinstance(s, int) and s == 0 else s for i, s in enumerate(target)]
    items = symbolic_ints(data) if is_proxy(data) and len(target) <= 1 else None
    return with_symbolic(data.reshape(target), items)


@register("Flatten", since=1)
def flatten(input, *, axis=1):  # noqa: A002
    r = rank(input)
    axis = axis + r if axis < 0 else axis
    if axis == 0:
        return input.reshape(1, -1)
    if axis == r:
        return input.reshape(-1, 1)
    return input.flatten(axis).flatten(0, axis - 1)


@register("Transpose", since=1)
def transpose(data, *, perm=None):
    if perm is None:
        perm = list(reversed(range(rank(data))))
    return data.permute(*perm)


@register("Squeeze", since=1)
def squeeze_1(data, *, axes=None):
    items = symbolic_ints(data) if is_proxy(data) else None
    if not axes:
        return with_symbolic(torch.squeeze(data), items)
    return with_symbolic(torch.squeeze(data, tuple(normalize_axes(axes, rank(data)))), items)


@register("Squeeze", since=13)
def squeeze(data, axes=None):
    return squeeze_1(data, axes=None if axes is None else _require(maybe_known_ints(axes)))


@register("Unsqueeze", since=1)
def unsqueeze_1(data, *, axes):
    out_rank = rank(data) + len(axes)
    items = symbolic_ints(data) if is_proxy(data) and out_rank == 1 else None
    for axis in sorted(normalize_axes(axes, out_rank)):
        data = data.unsqueeze(axis)
    return with_symbolic(data, items)


@register("Unsqueeze", since=13)
def unsqueeze(data, axes):
    return unsqueeze_1(data, axes=_require(maybe_known_ints(axes)))


@register("Concat", since=4)
def concat(*inputs, axis):
    items = [symbolic_ints(i) for i in inputs]
    result = torch.cat([as_tensor(i) for i in inputs], dim=axis)
    if any(is_proxy(i) for i in inputs) and all(i is not None for i in items):
        return with_symbolic(result, [item for part in items for item in part])
    return result


def _split(x, sizes, axis, count):
    if sizes is None:
        length = _size(x, axis)  # a traced x.shape[axis] when it varies between calls
        chunk = -(-length // count)  # ONNX Split-18: the last chunk may be smaller
        if isinstance(length, int):
            sizes = [min(chunk, length - i * chunk) for i in range(count)]
        else:
            sizes = [chunk] * (count - 1) + [length - (count - 1) * chunk]
    parts = torch.split(x, list(sizes), dim=axis)
    # Traced, torch.split gives one proxy: index it (fx cannot iterate a proxy).
    return tuple(parts[i] for i in range(count)) if is_proxy(parts) else tuple(parts)


@register("Split", since=2)
def split_2(input, *, axis=0, split=None, context):  # noqa: A002
    return _split(input, split or None, axis, context.num_outputs)


@register("Split", since=13)
def split(input, split=None, *, axis=0, context):  # noqa: A002
    return _split(input, None if split is None else _require(symbolic_ints(split)), axis, context.num_outputs)


@register("Split", since=18)
def split_18(input, split=None, *, axis=0, num_outputs=None, context):  # noqa: A002
    return _split(input, None if split is None else _require(symbolic_ints(split)), axis, context.num_outputs)


def _slice(data, starts, ends, axes, steps):
    r = rank(data)
    axes = list(range(len(starts))) if axes is None else normalize_axes(axes, r)
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * r
    flips = []
    if any(is_proxy(bound) for bound in (*starts, *ends)):
        # Bounds known at run time: aten.slice records them even when `data` is a constant (a buffer).
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            data = torch.ops.aten.slice.Tensor(data, axis, start, end, step)
        return data
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        if step > 0:
            index[axis] = slice(start, end, step)
            continue
        length = _require(dims(data)[axis])
        picked = range(*slice(start, end, step).indices(length))
        if len(picked) == 0:
            index[axis] = slice(0, 0)
            continue
        # Negative steps: flip the axis, then slice forwards.
        flips.append(axis)
        first = length - 1 - picked[0]
        index[axis] = slice(first, first + (len(picked) - 1) * (-step) + 1, -step)
    if flips:
        data = torch.flip(data, flips)
    return data[tuple(index)]


@register("Slice", since=1)
def slice_1(data, *, axes=None, ends, starts):
    return _slice(data, starts, ends, axes, None)


@register("Slice", since=10)
def slice_(data, starts, ends, axes=None, steps=None):
    # Bounds may be sizes known only at run time (`position_ids[:, :input_ids.shape[1]]`): a
    # forward slice takes them as they are, so the graph stays exportable with torch.export.
    starts, ends = _require(symbolic_ints(starts)), _require(symbolic_ints(ends))
    axes = None if axes is None else _require(maybe_known_ints(axes))
    steps = None if steps is None else _require(maybe_known_ints(steps))
    if any(is_proxy(bound) for bound in (*starts, *ends)) and any(step < 0 for step in steps or ()):
        raise NeedsValues("a backward slice with bounds known only at run time")
    items = symbolic_ints(data) if is_proxy(data) else None
    if items is not None and len(starts) == 1 and not any(is_proxy(b) for b in (*starts, *ends)):
        items = items[slice(starts[0], ends[0], steps[0] if steps else 1)]
    else:
        items = None
    return with_symbolic(_slice(data, starts, ends, axes, steps), items)


@register("Gather", since=1)
def gather(data, indices, *, axis=0):
    axis = normalize_axis(axis, rank(data))
    values = maybe_known(indices)
    items = symbolic_ints(data) if is_proxy(data) and values is not None and axis == 0 else None
    if items is not None:
        items = [items[int(i)] for i in np.asarray(values).reshape(-1)]
    if values is not None and values.ndim == 0:
        return with_symbolic(data.select(axis, int(values)), items)
    return with_symbolic(data[(slice(None),) * axis + (indices,)], items)


def _positive(indices, data, axis):
    return torch.where(indices < 0, indices + data.shape[axis], indices)


@register("GatherElements", since=11)
def gather_elements(data, indices, *, axis=0):
    axis = normalize_axis(axis, rank(data))
    return torch.gather(data, axis, _positive(indices, data, axis))


@register("GatherND", since=11)
def gather_nd(data, indices, *, batch_dims=0):
    depth = dims(indices)[-1]
    if batch_dims == 0 and depth is not None:
        # Advanced indexing gives ONNX's indices.shape[:-1] + data.shape[depth:] for any (dynamic) sizes.
        return data[tuple(indices[..., i] for i in range(depth))]
    data_dims = static_dims(data)
    index_dims = static_dims(indices)
    depth = index_dims[-1]
    batch = int(np.prod(data_dims[:batch_dims], dtype=np.int64))
    flat_data = data.reshape((batch,) + data_dims[batch_dims:])
    flat_indices = indices.reshape(batch, -1, depth)
    rows = torch.arange(batch).reshape(batch, 1).expand(batch, flat_indices.shape[1])
    picked = flat_data[(rows,) + tuple(flat_indices[..., i] for i in range(depth))]
    return picked.reshape(index_dims[:-1] + data_dims[batch_dims + depth :])


_REDUCTIONS = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


@register("ScatterElements", since=11)
def scatter_elements(data, indices, updates, *, axis=0, reduction="none"):
    axis = normalize_axis(axis, rank(data))
    indices = _positive(indices, data, axis)
    if reduction == "none":
        return torch.scatter(data, axis, indices, updates)
    return torch.scatter_reduce(data, axis, indices, updates, _REDUCTIONS[reduction], include_self=True)


@register("Scatter", since=9)
def scatter(data, indices, updates, *, axis=0):
    return scatter_elements(data, indices, updates, axis=axis)


@register("ScatterND", since=11)
def scatter_nd(data, indices, updates, *, reduction="none"):
    # Only the index depth must be known while building: EmbeddingBag's rows arrive in a varying number.
    depth = dims(indices)[-1]
    if depth is None:
        raise NeedsValues("ScatterND's index depth varies between calls")
    position = tuple(indices[..., i] for i in range(depth))
    if reduction in ("none", "add"):
        return torch.index_put(data, position, updates, accumulate=reduction == "add")
    # mul/max/min: scatter_reduce along the leading `depth` axes flattened into one (traceable;
    # index_reduce would do it without the expanded index, but warns that it is in beta).
    sizes = sizes_of(data)
    slot = position[0] % sizes[0]  # a negative index counts from the end
    for axis in range(1, depth):
        slot = slot * sizes[axis] + position[axis] % sizes[axis]
    rest = list(sizes[depth:])
    flat_updates = updates.reshape([-1, *rest])
    slots = slot.reshape([-1] + [1] * len(rest)).expand_as(flat_updates)
    combined = data.reshape([-1, *rest]).scatter_reduce(
        0, slots, flat_updates, _REDUCTIONS[reduction], include_self=True
    )
    return combined.reshape(sizes)


@register("Expand", since=8)
def expand(input, shape):  # noqa: A002
    target = _require(symbolic_ints(shape))
    sizes = dims(input)
    if all(isinstance(t, int) for t in target) and None not in sizes:
        # ONNX Expand broadcasts both ways: a 1 in `shape` keeps the input's dimension.
        return input.expand(tuple(np.broadcast_shapes(sizes, tuple(target))))
    if len(target) < len(sizes):
        target = [1] * (len(sizes) - len(target)) + list(target)
    sizes = (None,) * (len(target) - len(sizes)) + tuple(sizes)  # None: a new leading axis
    extra = len(target) - rank(input)
    out = []
    for i, (t, d) in enumerate(zip(target, sizes, strict=False)):
        if isinstance(t, int) and t == 1:
            out.append(1 if i < extra else -1)  # keep the input's dimension
        elif i >= extra and isinstance(d, int) and d != 1:
            out.append(-1)
        else:
            out.append(t)
    return input.expand(out)


@register("Tile", since=6)
def tile(input, repeats):  # noqa: A002
    # Repeats computed from sizes (DeBERTa's relative positions) stay traced sizes: exportable.
    return input.repeat(*_require(symbolic_ints(repeats)))


def _pad(data, pads, mode, value, axes=None):
    r = rank(data)
    axes = list(range(r)) if axes is None else normalize_axes(axes, r)
    half = len(pads) // 2
    begins, ends = pads[:half], pads[half:]
    if mode == "constant":
        flat = [0] * (2 * r)
        for axis, begin, end in zip(axes, begins, ends, strict=True):
            flat[2 * (r - 1 - axis)] = begin
            flat[2 * (r - 1 - axis) + 1] = end
        return F.pad(data, flat, value=float(value) if value is not None else 0.0)
    numpy_mode = {"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode]
    for axis, begin, end in zip(axes, begins, ends, strict=True):
        if begin == 0 and end == 0:
            continue
        length = _require(dims(data)[axis])
        positions = np.arange(length)
        positions = positions[max(0, -begin) : length - max(0, -end)]
        positions = np.pad(positions, (max(0, begin), max(0, end)), mode=numpy_mode)
        data = torch.index_select(data, axis, torch.from_numpy(positions.astype(np.int64)))
    return data


@register("Pad", since=2)
def pad_2(data, *, mode="constant", pads, value=0.0):
    return _pad(data, pads, mode, value)


@register("Pad", since=11)
def pad(data, pads, constant_value=None, axes=None, *, mode="constant"):
    value = None
    if constant_value is not None:
        value = _require(maybe_known(constant_value)).reshape(-1)
        value = value[0].item() if value.size else None
    axes = None if axes is None else _require(maybe_known_ints(axes))
    return _pad(data, _require(maybe_known_ints(pads)), mode, value, axes)


@register("ConstantOfShape", since=9)
def constant_of_shape(input, *, value=None):  # noqa: A002
    sizes = _require(symbolic_ints(input))
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value)
    return torch.full(sizes, fill.reshape(-1)[0].item(), dtype=to_torch(fill).dtype)


@register("Range", since=11)
def range_(start, limit, delta):
    bounds = [symbolic_ints(value) for value in (start, limit, delta)]
    if not dtype_of(start).is_floating_point and all(bound and len(bound) == 1 for bound in bounds):
        # `arange(input_ids.shape[1])`, `arange(0, batch * length, length)` (EmbeddingBag's offsets):
        # sizes known at run time stay traced sizes (exportable).
        first, last, step = (bound[0] for bound in bounds)
        if isinstance(first, int) and isinstance(step, int):
            return torch.arange(first, last, step, dtype=dtype_of(start))
        # ceil((limit - start) / delta) as a floor division that torch.export simplifies (to the
        # batch above): arange's own (limit - start + delta - 1) // delta stays an expression, and
        # torch.export then guards it against the example's size.
        count = -((first - last) // step)
        return first + torch.arange(count, dtype=dtype_of(start)) * step
    start_value, limit_value, delta_value = (_require(maybe_known(v)).item() for v in (start, limit, delta))
    dtype = dtype_of(start)
    count = max(int(np.ceil((limit_value - start_value) / delta_value)), 0)
    if dtype.is_floating_point:
        return start_value + torch.arange(count, dtype=dtype) * delta_value
    return torch.arange(start_value, start_value + count * delta_value, delta_value, dtype=dtype)[:count]


@register("NonZero", since=9)
def non_zero(x):
    return torch.nonzero(x).t()


@register("TopK", since=1)
def top_k_1(x, *, axis=-1, k):
    values, indices = torch.topk(x, k, dim=axis)
    return values, indices


@register("TopK", since=10)
@unsigned_via_int64(ordered=True, restore=(0,))
def top_k(x, k, *, axis=-1, largest=1, sorted=1):  # noqa: A002
    count = _require(maybe_known_ints(k))[0]
    # ONNX TopK: of equal values the lower index comes first; torch.topk leaves ties unordered.
    values, indices = torch.sort(x, dim=axis, descending=bool(largest), stable=True)
    return values.narrow(axis, 0, count), indices.narrow(axis, 0, count)


def _arg(function, data, axis, keepdims, select_last_index):
    if select_last_index:
        flipped = function(torch.flip(data, [axis]), dim=axis, keepdim=bool(keepdims))
        return data.shape[axis] - 1 - flipped
    return function(data, dim=axis, keepdim=bool(keepdims))


@register("ArgMax", since=1)
def arg_max(data, *, axis=0, keepdims=1, select_last_index=0):
    return _arg(torch.argmax, data, axis, keepdims, select_last_index)


@register("ArgMin", since=1)
def arg_min(data, *, axis=0, keepdims=1, select_last_index=0):
    return _arg(torch.argmin, data, axis, keepdims, select_last_index)


@register("OneHot", since=9)
def one_hot(indices, depth, values, *, axis=-1):
    count = int(_require(maybe_known(depth)).reshape(-1)[0])
    out_rank = rank(indices) + 1
    axis = normalize_axis(axis, out_rank)
    indices = torch.where(indices < 0, indices + count, indices)
    shape = [1] * out_rank
    shape[axis] = count
    classes = torch.arange(count, dtype=indices.dtype).reshape(shape)
    hot = indices.unsqueeze(axis) == classes
    return torch.where(hot, values[1], values[0])


@register("Trilu", since=14)
def trilu(input, k=None, *, upper=1):  # noqa: A002
    diagonal = 0 if k is None else int(_require(maybe_known(k)).reshape(-1)[0])
    return torch.triu(input, diagonal) if upper else torch.tril(input, diagonal)


@register("DepthToSpace", since=1)
def depth_to_space(input, *, blocksize, mode="DCR"):  # noqa: A002
    if mode == "CRD":
        return F.pixel_shuffle(input, blocksize)
    b, c, h, w = (_size(input, i) for i in range(4))
    blocks = input.reshape(b, blocksize, blocksize, c // (blocksize * blocksize), h, w)
    return blocks.permute(0, 3, 4, 1, 5, 2).reshape(
        b, c // (blocksize * blocksize), h * blocksize, w * blocksize
    )


@register("SpaceToDepth", since=1)
def space_to_depth(input, *, blocksize):  # noqa: A002
    b, c, h, w = (_size(input, i) for i in range(4))
    blocks = input.reshape(b, c, h // blocksize, blocksize, w // blocksize, blocksize)
    return blocks.permute(0, 3, 5, 1, 2, 4).reshape(
        b, c * blocksize * blocksize, h // blocksize, w // blocksize
    )


@register("SpaceToDepth", since=28)
def space_to_depth_28(input, *, blocksize, mode="DCR"):  # noqa: A002
    # ONNX SpaceToDepth opset 28: CRD orders the output channels (C, block row, block column).
    if mode == "CRD":
        return F.pixel_unshuffle(input, blocksize)
    return space_to_depth(input, blocksize=blocksize)


def _tensor_scatter_check(attributes, context):
    mode = attributes["mode"]
    return "" if mode in ("linear", "circular") else f"mode={mode!r} is not one of linear, circular"


@register("TensorScatter", since=24, check=_tensor_scatter_check)
def tensor_scatter(past_cache, update, write_indices=None, *, axis=-2, mode="linear"):
    # ONNX TensorScatter: batch b's update goes along `axis` from write_indices[b] (0 without them);
    # circular mode wraps the positions around the cache's length.
    axis = normalize_axis(axis, rank(past_cache))
    cache, update = past_cache.movedim(axis, 1), update.movedim(axis, 1)  # [batch, sequence, ...]
    batch, length = update.shape[0], update.shape[1]
    steps = torch.arange(length, device=update.device)[None, :]
    if write_indices is None:
        position = steps.expand(batch, length)
    else:
        position = write_indices.to(torch.int64)[:, None] + steps
    if mode == "circular":
        position = torch.remainder(position, cache.shape[1])
    rows = torch.arange(batch, device=update.device)[:, None].expand_as(position)
    return cache.index_put((rows, position), update).movedim(1, axis)


@register("Compress", since=9)
def compress(input, condition, *, axis=None):  # noqa: A002
    chosen = torch.nonzero(condition).reshape(-1)
    if axis is None:
        return input.reshape(-1)[chosen]
    return torch.index_select(input, axis, chosen)


@register("CumSum", since=11)
def cum_sum(x, axis, *, exclusive=0, reverse=0):
    return _cumulative(torch.cumsum, x, axis, exclusive, reverse, 0)


@register("CumProd", since=26)
def cum_prod(x, axis, *, exclusive=0, reverse=0):
    return _cumulative(torch.cumprod, x, axis, exclusive, reverse, 1)


def _cumulative(function, x, axis, exclusive, reverse, identity):
    axis = normalize_axis(int(_require(maybe_known(axis)).reshape(-1)[0]), rank(x))
    if reverse:
        x = torch.flip(x, [axis])
    if exclusive:
        first = torch.full_like(x.narrow(axis, 0, 1), identity)
        x = torch.cat([first, x.narrow(axis, 0, x.shape[axis] - 1)], dim=axis)
    result = function(x, dim=axis).to(x.dtype)
    return torch.flip(result, [axis]) if reverse else result


@register("EyeLike", since=9)
def eye_like(input, *, dtype=None, k=0):  # noqa: A002
    rows, columns = static_dims(input)
    target = TORCH_DTYPES[dtype] if dtype is not None else dtype_of(input)
    eye = np.eye(rows, columns, k=k)
    return torch.from_numpy(eye).to(target)


@register("ReverseSequence", since=10)
def reverse_sequence(input, sequence_lens, *, batch_axis=1, time_axis=0):  # noqa: A002
    # One gather: step t of sequence b reads step lens[b] - 1 - t while t < lens[b], else t itself.
    # Plain torch calls on sizes (Keras' backward RNNs): traced, exportable, and lengths may vary.
    steps = torch.arange(input.shape[time_axis]).unsqueeze(1)  # (time, 1), traced even when static
    lengths = sequence_lens.to(torch.int64).unsqueeze(0)  # (1, batch)
    source = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (time, batch)
    if batch_axis < time_axis:
        source = source.t()
    source = source[(Ellipsis,) + (None,) * (rank(input) - 2)]
    return torch.gather(input, time_axis, source.expand_as(input))


@register("Unique", since=11)
def unique(x, *, axis=None, sorted=1):  # noqa: A002
    if is_proxy(x):
        raise NeedsValues("Unique runs on real tensors")
    array = to_numpy(x)  # bfloat16 as ml_dtypes' (torch's .numpy() has no bfloat16)
    values, first, inverse, counts = np.unique(
        array, return_index=True, return_inverse=True, return_counts=True, axis=axis
    )
    if not sorted:
        order = np.argsort(first, kind="stable")
        values = np.take(values, order, axis=0 if axis is None else axis)
        rank_of = np.argsort(order)
        inverse, first, counts = rank_of[inverse.reshape(-1)], first[order], counts[order]
    as_long = lambda a: torch.from_numpy(np.asarray(a, np.int64).reshape(-1))  # noqa: E731
    return to_torch(values), as_long(first), as_long(inverse), as_long(counts)


# --------------------------------------------------------------------------- sequences and optionals


@register("SequenceConstruct", since=11)
def sequence_construct(*inputs):
    return (list(inputs),)  # a 1-tuple: the core reads a bare list as several outputs


@register("SequenceEmpty", since=11)
def sequence_empty(*, dtype=None):
    return ([],)


def _position(sequence, position, default):
    if position is None:
        return default
    index = int(_require(maybe_known(position)).reshape(-1)[0])
    return index + len(sequence) if index < 0 else index


@register("SequenceAt", since=11)
def sequence_at(input_sequence, position):
    return input_sequence[_position(input_sequence, position, 0)]


@register("SequenceInsert", since=11)
def sequence_insert(input_sequence, tensor, position=None):
    sequence = list(input_sequence)
    sequence.insert(_position(sequence, position, len(sequence)), tensor)
    return (sequence,)


@register("SequenceErase", since=11)
def sequence_erase(input_sequence, position=None):
    sequence = list(input_sequence)
    del sequence[_position(sequence, position, len(sequence) - 1)]
    return (sequence,)


@register("SequenceLength", since=11)
def sequence_length(input_sequence):
    if is_proxy(input_sequence) or isinstance(input_sequence, torch.Tensor):
        raise NeedsValues("sequence length known at run time")
    return torch.tensor(len(input_sequence), dtype=torch.int64)


@register("ConcatFromSequence", since=11)
def concat_from_sequence(input_sequence, *, axis, new_axis=0):
    if new_axis:
        return torch.stack(list(input_sequence), dim=axis)
    return torch.cat(list(input_sequence), dim=axis)


@register("SplitToSequence", since=11)
def split_to_sequence(input, split=None, *, axis=0, keepdims=1):  # noqa: A002
    if split is None:
        parts = torch.split(input, 1, dim=axis)
        return ([p.squeeze(axis) for p in parts] if not keepdims else list(parts),)
    sizes = _require(maybe_known(split))
    if sizes.ndim == 0:
        return (list(torch.split(input, int(sizes), dim=axis)),)
    return (list(torch.split(input, [int(s) for s in sizes], dim=axis)),)


@register("Optional", since=15)
def optional(input=None, *, type=None):  # noqa: A002
    return (input,)  # a 1-tuple: an optional sequence is a list, which the core would read as outputs


@register("OptionalHasElement", since=15)
def optional_has_element(input=None):  # noqa: A002
    if is_proxy(input):
        raise NeedsValues("an optional is known to be empty only at run time")
    return torch.tensor(input is not None)


@register("OptionalGetElement", since=15)
def optional_get_element(input):  # noqa: A002
    return (input,)  # a 1-tuple, as Optional: a sequence (a list) is one output, not several
