"""Convolution, pooling, normalisation and matrix products; the spatial ops run channels-last."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.importers import common, training
from toolkit.importers.semantics import conv as rules
from toolkit.importers.tensorflow import layout
from toolkit.importers.tensorflow.ops import maybe_known, register


def _rank_of(value) -> int:
    return value.rank if isinstance(value, layout.Transposed) else value.shape.rank


def _spatial_sizes(x_channels_last) -> list[int | None]:
    return list(x_channels_last.shape[1:-1])


def _pad_spatial(x, pairs, value=0):
    if all(b == 0 and e == 0 for b, e in pairs):
        return x
    return tf.pad(x, [(0, 0), *pairs, (0, 0)], constant_values=value)


# --------------------------------------------------------------------------- convolution


@register("Conv", since=1, layout_mode="any", check=rules.check)
def conv(
    x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None
):
    rank = _rank_of(w)
    spatial = rank - 2
    x = layout.channels_last(x, rank)
    filters = layout.stored_as(w, layout.weights_perm(rank))  # HWIO
    kernel = (
        [int(k) for k in filters.shape[:spatial]]
        if filters.shape[:spatial].is_fully_defined()
        else kernel_shape
    )
    geometry = rules.window(kernel, strides, dilations, auto_pad, pads, _spatial_sizes(x))
    strides, dilations = geometry.strides, geometry.dilations
    if geometry.pads is None:
        padding = "SAME"  # SAME_UPPER over sizes known only at run time: TF's SAME is the same rule
    else:
        x = _pad_spatial(x, geometry.pads)
        padding = "VALID"
    channels = x.shape[-1]
    if group == 1:
        y = _convolve(x, filters, strides, padding, dilations)
    elif (
        spatial == 2 and channels is not None and group == channels and all(s == strides[0] for s in strides)
    ):
        # Depthwise: TF filter [kh, kw, C, multiplier], ONNX output channel c*multiplier + m.
        depthwise = tf.reshape(filters, tf.stack([kernel[0], kernel[1], group, -1]))
        y = tf.nn.depthwise_conv2d(x, depthwise, [1, *strides, 1], padding, dilations=dilations)
    else:
        xs = tf.split(x, group, axis=-1)
        fs = tf.split(filters, group, axis=-1)
        y = tf.concat([_convolve(a, f, strides, padding, dilations) for a, f in zip(xs, fs, strict=True)], -1)
    if b is not None:
        y = tf.nn.bias_add(y, layout.to_onnx(b))
    return layout.Transposed(y, layout.channels_last_perm(rank))


def _convolve(x, filters, strides, padding, dilations):
    if any(d > 1 for d in dilations) and any(s > 1 for s in strides):
        # tf.nn.convolution refuses stride and dilation together: stride 1, then subsample.
        y = tf.nn.convolution(x, filters, 1, padding, dilations=dilations)
        return y[(slice(None), *[slice(None, None, s) for s in strides], slice(None))]
    return tf.nn.convolution(x, filters, strides, padding, dilations=dilations)


@register("ConvTranspose", since=1, layout_mode="any", check=rules.check)
def conv_transpose(
    x,
    w,
    b=None,
    *,
    auto_pad="NOTSET",
    dilations=None,
    group=1,
    kernel_shape=None,
    output_padding=None,
    output_shape=None,
    pads=None,
    strides=None,
):
    rank = _rank_of(w)
    spatial = rank - 2
    x = layout.channels_last(x, rank)
    filters = layout.stored_as(w, layout.weights_perm(rank))  # [kh, kw, C_out/group, C_in]
    kernel = [int(k) for k in filters.shape[:spatial]]
    strides = list(strides or [1] * spatial)
    dilations = list(dilations or [1] * spatial)
    sizes = _spatial_sizes(x)
    full = [
        None if n is None else (n - 1) * s + rules.span(k, d)
        for n, s, k, d in zip(sizes, strides, kernel, dilations, strict=True)
    ]
    crops = rules.conv_transpose_crops(
        sizes, kernel, strides, dilations, output_padding, output_shape, auto_pad, pads
    )
    batch = tf.shape(x)[0]
    dynamic = tf.shape(x)
    xs = tf.split(x, group, axis=-1) if group > 1 else [x]
    fs = tf.split(filters, group, axis=-1) if group > 1 else [filters]
    outputs = []
    for part, f in zip(xs, fs, strict=True):
        dims = [
            full[i]
            if full[i] is not None
            else (dynamic[i + 1] - 1) * strides[i] + rules.span(kernel[i], dilations[i])
            for i in range(spatial)
        ]
        output_dims = tf.stack([batch, *dims, tf.shape(f)[-2]])
        outputs.append(tf.nn.conv_transpose(part, f, output_dims, strides, "VALID", dilations=dilations))
    y = tf.concat(outputs, -1) if group > 1 else outputs[0]
    if any(append for _, _, append in crops):
        y = _pad_spatial(y, [(0, append) for _, _, append in crops])
    if any(begin or end for begin, end, _ in crops):
        y = y[(slice(None), *[slice(begin, (-end if end else None)) for begin, end, _ in crops], slice(None))]
    if b is not None:
        y = tf.nn.bias_add(y, layout.to_onnx(b))
    return layout.Transposed(y, layout.channels_last_perm(rank))


@register("Col2Im", since=18)
def col2im(x, image_shape, block_shape, *, dilations=None, pads=None, strides=None):
    # The shapes decide the scatter pattern: built with numpy when known while building, else in TF ops.
    static_image, static_block = maybe_known(image_shape), maybe_known(block_shape)
    if static_image is None or static_block is None:
        return _col2im_dynamic(x, image_shape, block_shape, dilations, pads, strides)
    image_shape = [int(n) for n in np.reshape(static_image, [-1])]
    block_shape = [int(k) for k in np.reshape(static_block, [-1])]
    spatial = len(image_shape)
    dilations = list(dilations or [1] * spatial)
    strides = list(strides or [1] * spatial)
    pairs = common.split_pads(pads) if pads is not None else [(0, 0)] * spatial
    padded = [n + b + e for n, (b, e) in zip(image_shape, pairs, strict=True)]
    blocks = [
        (p - ((k - 1) * d + 1)) // s + 1
        for p, k, d, s in zip(padded, block_shape, dilations, strides, strict=True)
    ]
    # ONNX Col2Im: column (offset in the block, block position) lands on the padded image at
    # offset * dilation + position * stride; overlapping columns add up.
    coordinates = [
        np.add.outer(np.arange(k) * d, np.arange(count) * s)
        for k, d, s, count in zip(block_shape, dilations, strides, blocks, strict=True)
    ]
    full = [size for k, count in zip(block_shape, blocks, strict=True) for size in (k, count)]
    grids = []
    for axis, coordinate in enumerate(coordinates):  # each broadcast to [k0, n0, k1, n1, ...]
        shape = [1] * (2 * spatial)
        shape[2 * axis : 2 * axis + 2] = coordinate.shape
        grids.append(np.broadcast_to(coordinate.reshape(shape), full))
    # Columns are ordered (block offsets row-major, then block positions row-major).
    order = [2 * i for i in range(spatial)] + [2 * i + 1 for i in range(spatial)]
    target = np.ravel_multi_index([g.transpose(order).reshape(-1) for g in grids], padded)
    batch, channels = tf.shape(x)[0], tf.shape(x)[1] // int(np.prod(block_shape))
    columns = tf.transpose(tf.reshape(x, tf.stack([batch, channels, -1])), [2, 0, 1])  # [K * L, N, C]
    image = tf.math.unsorted_segment_sum(columns, tf.constant(target, tf.int64), int(np.prod(padded)))
    image = tf.reshape(tf.transpose(image, [1, 2, 0]), tf.concat([[batch, channels], padded], axis=0))
    return image[
        (slice(None), slice(None), *[slice(b, b + n) for (b, _), n in zip(pairs, image_shape, strict=True)])
    ]


def _col2im_dynamic(x, image_shape, block_shape, dilations, pads, strides):
    """Col2Im with image and block shapes known only at run time: the same scatter, indices in TF ops."""
    spatial = int(image_shape.shape[0])
    image_shape, block_shape = tf.cast(image_shape, tf.int64), tf.cast(block_shape, tf.int64)
    dilations = list(dilations or [1] * spatial)
    strides = list(strides or [1] * spatial)
    pairs = common.split_pads(pads) if pads is not None else [(0, 0)] * spatial
    padded = [image_shape[i] + b + e for i, (b, e) in enumerate(pairs)]
    kernels = [block_shape[i] for i in range(spatial)]
    blocks = [
        (p - ((k - 1) * d + 1)) // s + 1
        for p, k, d, s in zip(padded, kernels, dilations, strides, strict=True)
    ]
    full = tf.stack([size for k, count in zip(kernels, blocks, strict=True) for size in (k, count)])
    target = tf.zeros([], tf.int64)
    stride = tf.ones([], tf.int64)
    order = [2 * i for i in range(spatial)] + [2 * i + 1 for i in range(spatial)]
    for axis in reversed(range(spatial)):  # row-major flat index into the padded image
        coordinate = (
            tf.range(kernels[axis])[:, None] * dilations[axis]
            + tf.range(blocks[axis])[None, :] * strides[axis]
        )
        shape = tf.tensor_scatter_nd_update(
            tf.ones([2 * spatial], tf.int64), [[2 * axis], [2 * axis + 1]], [kernels[axis], blocks[axis]]
        )
        grid = tf.broadcast_to(tf.reshape(coordinate, shape), full)
        target = target + tf.reshape(tf.transpose(grid, order), [-1]) * stride
        stride = stride * padded[axis]
    batch, channels = tf.shape(x, tf.int64)[0], tf.shape(x, tf.int64)[1] // tf.reduce_prod(block_shape)
    columns = tf.transpose(tf.reshape(x, tf.stack([batch, channels, -1])), [2, 0, 1])
    image = tf.math.unsorted_segment_sum(columns, target, stride)
    image = tf.reshape(
        tf.transpose(image, [1, 2, 0]), tf.concat([tf.stack([batch, channels]), tf.stack(padded)], 0)
    )
    begin = tf.constant([0, 0] + [b for b, _ in pairs], tf.int64)
    size = tf.concat([tf.constant([-1, -1], tf.int64), image_shape], 0)
    return tf.slice(image, begin, size)


# --------------------------------------------------------------------------- pooling


def _pool_geometry(x, kernel, auto_pad, pads, strides, dilations, ceil_mode, count_include_pad=0):
    return rules.pool_window(
        kernel, strides, dilations, auto_pad, pads, _spatial_sizes(x), ceil_mode, count_include_pad
    )


def _pool(x, kind, kernel, strides, dilations):
    # TF refuses stride with dilation, and strides larger than the window: stride 1, then subsample.
    if (
        any(d > 1 for d in dilations)
        and any(s > 1 for s in strides)
        or any(s > k for s, k in zip(strides, kernel, strict=True))
    ):
        y = tf.nn.pool(x, kernel, kind, strides=[1] * len(kernel), padding="VALID", dilations=dilations)
        return y[(slice(None), *[slice(None, None, s) for s in strides], slice(None))]
    return tf.nn.pool(x, kernel, kind, strides=strides, padding="VALID", dilations=dilations)


def _lowest(dtype):
    if dtype.is_floating:
        return -np.inf
    return dtype.min


def _onnx_positions(x_channels_last, storage_order):
    """Each element's flat ONNX index (row-major NCHW, or the spatial axes column-major), channels-last."""
    shape = tf.shape(x_channels_last, out_type=tf.int64)
    rank = x_channels_last.shape.rank
    onnx_shape = tf.concat([shape[:1], shape[-1:], shape[1:-1]], axis=0)
    spatial = list(range(2, rank))
    # ONNX MaxPool storage_order=1: the spatial axes are counted column-major (last spatial axis slowest).
    order = [0, 1, *spatial] if not storage_order else [0, 1, *reversed(spatial)]
    ordered_shape = tf.gather(onnx_shape, order)
    positions = tf.reshape(tf.range(tf.reduce_prod(ordered_shape)), ordered_shape)
    positions = tf.transpose(positions, layout.inverse(order))  # now in ONNX layout
    return tf.transpose(positions, layout.channels_last_perm(rank))


def _pool_with_indices(x, positions, kernel, strides, dilations):
    """Max over each window and the ONNX position of its first maximum, one window offset at a time."""
    sizes = tf.shape(x)[1:-1]
    best = best_at = None
    for offset in np.ndindex(*kernel):
        window = [slice(None)]
        for axis, (k, s, d) in enumerate(zip(offset, strides, dilations, strict=True)):
            span = (kernel[axis] - 1) * dilations[axis] + 1
            count = (sizes[axis] - span) // s + 1
            window.append(slice(k * d, k * d + (count - 1) * s + 1, s))
        window.append(slice(None))
        value, at = x[tuple(window)], positions[tuple(window)]
        if best is None:
            best, best_at = value, at
        else:
            better = value > best  # strict: ties keep the earlier offset, as the reference does
            best, best_at = tf.where(better, value, best), tf.where(better, at, best_at)
    return best, best_at


@register("MaxPool", since=1, layout_mode="any", check=rules.check)
def max_pool(
    x,
    *,
    auto_pad="NOTSET",
    ceil_mode=0,
    dilations=None,
    kernel_shape,
    pads=None,
    storage_order=0,
    strides=None,
    context=None,
):
    rank = len(kernel_shape) + 2
    x = layout.channels_last(x, rank)
    geometry = _pool_geometry(x, kernel_shape, auto_pad, pads, strides, dilations, ceil_mode)
    pairs, strides, dilations = geometry.pads, geometry.strides, geometry.dilations
    perm = layout.channels_last_perm(rank)
    if context is not None and context.output_used(1):
        positions = _pad_spatial(_onnx_positions(x, storage_order), pairs, -1)
        x = _pad_spatial(x, pairs, _lowest(x.dtype))
        y, indices = _pool_with_indices(x, positions, list(kernel_shape), strides, dilations)
        return layout.Transposed(y, perm), layout.Transposed(indices, perm)
    x = _pad_spatial(x, pairs, _lowest(x.dtype))
    y = _pool(x, "MAX", list(kernel_shape), strides, dilations)
    return layout.Transposed(y, perm)


@register("MaxUnpool", since=9)
def max_unpool(x, indices, output_shape=None, *, kernel_shape, pads=None, strides=None):
    spatial = len(kernel_shape)
    strides = list(strides or [1] * spatial)
    pairs = common.split_pads(pads) if pads is not None else [(0, 0)] * spatial
    # ONNX MaxUnpool: the inverse of MaxPool's size rule, (in - 1) * stride + kernel - pads
    sizes = tf.shape(x, out_type=tf.int64)
    spatial_sizes = [
        (sizes[2 + i] - 1) * s + k - b - e
        for i, (k, s, (b, e)) in enumerate(zip(kernel_shape, strides, pairs, strict=True))
    ]
    inferred = tf.stack([sizes[0], sizes[1], *spatial_sizes])
    # Indices count into the whole inferred tensor (batch and channel included): scatter into it flat.
    flat = tf.scatter_nd(
        tf.reshape(tf.cast(indices, tf.int64), [-1, 1]), tf.reshape(x, [-1]), tf.reduce_prod(inferred)[None]
    )
    y = tf.reshape(flat, inferred)
    if output_shape is None:
        return y
    # A larger output_shape pads the inferred result with zeros at the end of each axis.
    extra = tf.cast(tf.reshape(output_shape, [-1]), tf.int64) - inferred
    return tf.pad(y, tf.stack([tf.zeros_like(extra), extra], axis=1))


@register("AveragePool", since=1, layout_mode="any", check=rules.check)
def average_pool(
    x,
    *,
    auto_pad="NOTSET",
    ceil_mode=0,
    count_include_pad=0,
    dilations=None,
    kernel_shape,
    pads=None,
    strides=None,
):
    rank = len(kernel_shape) + 2
    x = layout.channels_last(x, rank)
    geometry = _pool_geometry(
        x, kernel_shape, auto_pad, pads, strides, dilations, ceil_mode, count_include_pad
    )
    kernel, strides, dilations = geometry.kernel, geometry.strides, geometry.dilations
    if all(b == 0 and e == 0 for b, e in geometry.pads):
        y = _pool(x, "AVG", kernel, strides, dilations)
    else:
        # ONNX AveragePool: the sum over the window divided by the positions counted (the input,
        # and the explicit pads with count_include_pad=1; never ceil_mode's extra end padding).
        area = float(np.prod(kernel))
        total = _pool(_pad_spatial(x, geometry.pads), "AVG", kernel, strides, dilations) * area
        ones = _pad_spatial(tf.ones_like(x[:1, ..., :1]), geometry.counted, 1)  # sizes may vary
        count = _pool(_pad_spatial(ones, rules.uncounted(geometry)), "AVG", kernel, strides, dilations) * area
        y = total / count
    return layout.Transposed(y, layout.channels_last_perm(rank))


@register("LpPool", since=11, layout_mode="any", check=rules.check)
def lp_pool(x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape, p=2, pads=None, strides=None):
    rank = len(kernel_shape) + 2
    x = layout.channels_last(x, rank)
    geometry = _pool_geometry(x, kernel_shape, auto_pad, pads, strides, dilations, ceil_mode)
    powered = _pad_spatial(tf.pow(tf.abs(x), p), geometry.pads)
    total = _pool(powered, "AVG", geometry.kernel, geometry.strides, geometry.dilations) * float(
        np.prod(kernel_shape)
    )
    return layout.Transposed(tf.pow(total, 1.0 / p), layout.channels_last_perm(rank))


def _global(function):
    def handler(x):
        rank = _rank_of(x)
        if not layout.is_channels_last(x):
            # Reduced where it is: transposing an ONNX-layout value (tf2onnx writes Keras's
            # LayerNormalization mean as a GlobalAveragePool over [N, T, C]) would only make
            # every value it meets afterwards transposed too.
            return function(layout.to_onnx(x), list(range(2, rank)), keepdims=True)
        x = x.stored
        return layout.Transposed(
            function(x, list(range(1, rank - 1)), keepdims=True), layout.channels_last_perm(rank)
        )

    return handler


register("GlobalAveragePool", since=1, layout_mode="any")(_global(tf.reduce_mean))
register("GlobalMaxPool", since=1, layout_mode="any")(_global(tf.reduce_max))


@register("GlobalLpPool", since=2, layout_mode="any")
def global_lp_pool(x, *, p=2):
    rank = _rank_of(x)
    x = layout.channels_last(x, rank)
    y = tf.pow(tf.reduce_sum(tf.pow(tf.abs(x), p), list(range(1, rank - 1)), keepdims=True), 1.0 / p)
    return layout.Transposed(y, layout.channels_last_perm(rank))


# --------------------------------------------------------------------------- normalisation


def _per_channel(x, vector):
    """A per-channel vector shaped to broadcast against x, in whichever layout x is held."""
    if isinstance(x, layout.Transposed) or x.shape.rank <= 2:
        return vector
    return tf.reshape(vector, [-1] + [1] * (x.shape.rank - 2))


def _training_check(attributes, context):
    if attributes.get("training_mode"):
        if context.opset < 14:
            return "BatchNormalization in training mode before opset 14 (saved statistics outputs)"
        return ""
    if any(context.output_used(i) for i in (1, 2)):
        return "BatchNormalization's running statistics outputs are not supported outside training mode"
    return ""


def _batch_norm_training(x, scale, bias, mean, var, epsilon, momentum):
    """ONNX BatchNormalization, training_mode=1 (opset 14): batch statistics, updated running ones."""
    x = layout.to_onnx(x)
    axes = [0, *range(2, x.shape.rank)]
    batch_mean, batch_var = tf.nn.moments(x, axes)  # population variance, as the spec's ReduceVar
    y = (x - _per_channel(x, batch_mean)) * _per_channel(x, tf.math.rsqrt(batch_var + epsilon))
    y = y * _per_channel(x, scale) + _per_channel(x, bias)
    running_mean = mean * momentum + batch_mean * (1 - momentum)
    running_var = var * momentum + batch_var * (1 - momentum)
    return y, running_mean, running_var


def _batch_norm(x, scale, bias, mean, var, epsilon):
    if not layout.is_channels_last(x) and isinstance(x, layout.Transposed):
        x = layout.to_onnx(x)
    stored = x.stored if isinstance(x, layout.Transposed) else x
    multiplier = scale * tf.math.rsqrt(var + tf.cast(epsilon, var.dtype))
    offset = bias - mean * multiplier
    y = stored * _per_channel(x, multiplier) + _per_channel(x, offset)
    return layout.Transposed(y, x.perm) if isinstance(x, layout.Transposed) else y


def _batch_norm_in_mode(x, scale, b, mean, var, epsilon, momentum):
    """The module's mode (`training=`) decides: batch statistics and assigned running ones, or these."""
    mode = training.current()
    values = [layout.to_onnx(v) for v in (scale, b, mean, var)]
    if not mode.flag:
        return _batch_norm(x, *values, epsilon)
    if layout.is_channels_last(x):
        stored, axes = x.stored, list(range(x.rank - 1))
    else:
        x = stored = layout.to_onnx(x)
        axes = [0, *range(2, x.shape.rank)]
    batch_mean, batch_var = tf.nn.moments(stored, axes)  # population variance
    scale_, bias_ = values[0], values[1]
    inverse = tf.math.rsqrt(batch_var + tf.cast(epsilon, batch_var.dtype)) * scale_
    y = stored * _per_channel(x, inverse) + _per_channel(x, bias_ - batch_mean * inverse)
    if isinstance(mean, tf.Variable) and isinstance(var, tf.Variable):
        update = batch_var
        if mode.unbiased_running_variance:  # a torch source: the running variance is unbiased
            count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(stored), axes)), batch_var.dtype)
            update = batch_var * count / tf.maximum(count - 1, 1)
        mean.assign(mean * momentum + tf.stop_gradient(batch_mean) * (1 - momentum))
        var.assign(var * momentum + tf.stop_gradient(update) * (1 - momentum))
    return layout.Transposed(y, x.perm) if isinstance(x, layout.Transposed) else y


@register("BatchNormalization", since=7, layout_mode="any", check=_training_check)
def batch_normalization_7(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, spatial=1):
    return _batch_norm_in_mode(x, scale, b, mean, var, epsilon, momentum)


@register("BatchNormalization", since=9, layout_mode="any", check=_training_check)
def batch_normalization(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, training_mode=0, context):
    if training.updates_running_statistics({"training_mode": training_mode}, context):
        values = [layout.to_onnx(v) for v in (scale, b, mean, var)]
        return _batch_norm_training(x, *values, epsilon, momentum)
    return _batch_norm_in_mode(x, scale, b, mean, var, epsilon, momentum)


@register("InstanceNormalization", since=6)
def instance_normalization(x, scale, b, *, epsilon=1e-5):
    axes = list(range(2, x.shape.rank))
    mean, variance = tf.nn.moments(x, axes, keepdims=True)
    y = (x - mean) * tf.math.rsqrt(variance + epsilon)
    return y * _per_channel(x, scale) + _per_channel(x, b)


@register("LayerNormalization", since=17)
def layer_normalization(x, scale, b=None, *, axis=-1, epsilon=1e-5, stash_type=1, context):
    axis = common.normalize_axis(axis, x.shape.rank)
    axes = list(range(axis, x.shape.rank))
    compute = tf.float32 if stash_type == 1 and x.dtype in (tf.float16, tf.bfloat16) else x.dtype
    values = tf.cast(x, compute)
    mean, variance = tf.nn.moments(values, axes, keepdims=True)
    inverse = tf.math.rsqrt(variance + tf.cast(epsilon, compute))
    y = tf.cast((values - mean) * inverse, x.dtype) * scale
    if b is not None:
        y = y + b
    if context.num_outputs == 1:
        return y
    return y, mean, inverse


@register("GroupNormalization", since=21)
def group_normalization(x, scale, bias, *, epsilon=1e-5, num_groups, stash_type=1):
    shape = tf.shape(x)
    grouped = tf.reshape(x, tf.concat([shape[:1], [num_groups, -1]], 0))
    mean, variance = tf.nn.moments(grouped, [2], keepdims=True)
    y = tf.reshape((grouped - mean) * tf.math.rsqrt(variance + epsilon), shape)
    return y * _per_channel(x, scale) + _per_channel(x, bias)


@register("LRN", since=1, layout_mode="any")
def lrn(x, *, alpha=0.0001, beta=0.75, bias=1.0, size):
    rank = _rank_of(x)
    x = layout.channels_last(x, rank)
    # ONNX LRN: the window is [c - floor((size-1)/2), c + ceil((size-1)/2)], alpha divided by size.
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    squares = tf.pad(tf.square(x), [(0, 0)] * (rank - 1) + [(before, after)])
    windows = tf.cumsum(squares, axis=-1)
    windows = tf.pad(windows, [(0, 0)] * (rank - 1) + [(1, 0)])
    channels = tf.shape(x)[-1]
    total = windows[..., size : size + channels] - windows[..., :channels]
    y = x / tf.pow(bias + alpha / size * total, beta)
    return layout.Transposed(y, layout.channels_last_perm(rank))


@register("LpNormalization", since=1)
def lp_normalization(x, *, axis=-1, p=2):
    if p == 1:
        norm = tf.reduce_sum(tf.abs(x), axis, keepdims=True)
    else:
        norm = tf.sqrt(tf.reduce_sum(tf.square(x), axis, keepdims=True))
    # As onnx's reference (and the torch table): a zero norm leaves zeros (not 0/0's NaN).
    return x / tf.where(norm == 0, tf.ones_like(norm), norm)


@register("MeanVarianceNormalization", since=9)
def mean_variance_normalization(x, *, axes=(0, 2, 3)):
    mean, variance = tf.nn.moments(x, list(axes), keepdims=True)
    return (x - mean) / (tf.sqrt(variance) + 1e-9)


# --------------------------------------------------------------------------- matrix products


@register("MatMul", since=1, layout_mode="matrix")
def mat_mul(a, b):
    a, b, transposed = layout.folded_operands(a, b, False)
    if transposed or (a.shape.rank == 2 and b.shape.rank == 2):
        return tf.matmul(a, b, transpose_b=transposed)
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.reduce_sum(a * b)
    if a.shape.rank == 1:
        return tf.squeeze(tf.matmul(a[None, :], b), -2)
    if b.shape.rank == 1:
        return tf.squeeze(tf.matmul(a, b[:, None]), -1)
    return tf.matmul(a, b)


@register("Gemm", since=7, layout_mode="matrix")
def gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):  # noqa: N803
    c = layout.to_onnx(c)
    a, b, transposed = layout.folded_operands(a, b, bool(transB))
    y = tf.matmul(a, b, transpose_a=bool(transA), transpose_b=transposed)
    if alpha != 1.0:
        y = y * tf.cast(alpha, y.dtype)
    if c is not None:
        if c.shape.rank == 2 and c.shape[0] == 1:
            # The same broadcast as a [N] bias; grappler fuses MatMul + Add into _FusedMatMul, whose
            # BiasAdd rejects a [1, N] bias when run ("bias must be 1-dimensional").
            c = tf.reshape(c, [-1])
        y = y + (c if beta == 1.0 else c * tf.cast(beta, c.dtype))
    return y
