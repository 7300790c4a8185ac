"""Convolution, pooling (and MaxUnpool, Col2Im), normalisation and dropout."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from toolkit.importers import training
from toolkit.importers.semantics import conv as rules
from toolkit.importers.torch.ops.symbolic import sizes_of
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import (
    NeedsValues,
    dims,
    dtype_of,
    is_proxy,
    maybe_known_ints,
    rank,
    static_dims,
)

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _spatial_sizes(x):
    return list(dims(x)[2:])


def _window(x, kernel, strides, dilations, auto_pad, pads):
    geometry = rules.window(kernel, strides, dilations, auto_pad, pads, _spatial_sizes(x))
    if geometry.pads is None:
        raise NeedsValues("auto_pad needs the spatial sizes")
    return geometry


def _pool_window(x, kernel, strides, dilations, auto_pad, pads, ceil_mode=0, count_include_pad=0):
    try:
        return rules.pool_window(
            kernel, strides, dilations, auto_pad, pads, _spatial_sizes(x), ceil_mode, count_include_pad
        )
    except ValueError as error:  # sizes that vary between calls: run this node eagerly
        raise NeedsValues(str(error)) from error


def _kernel(kernel_shape, w):
    """ONNX Conv/ConvTranspose: kernel_shape, or the weight's spatial dims when absent."""
    return [int(k) for k in kernel_shape] if kernel_shape else list(static_dims(w)[2:])


def _pad(x, pairs, value=0.0):
    if not any(b or e for b, e in pairs):
        return x
    return F.pad(x, [p for b, e in reversed(pairs) for p in (b, e)], value=value)


def _symmetric(pairs):
    """The pads as torch's symmetric `padding`, or None when begin and end differ."""
    return [b for b, _ in pairs] if all(b == e for b, e in pairs) else None


@register("Conv", since=1, check=rules.check)
def conv(
    x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None
):
    geometry = _window(x, _kernel(kernel_shape, w), strides, dilations, auto_pad, pads)
    padding = _symmetric(geometry.pads)
    if padding is None:
        x, padding = _pad(x, geometry.pads), 0
    return _CONV[len(geometry.kernel)](x, w, b, geometry.strides, padding, geometry.dilations, group)


@register("ConvTranspose", since=1, check=rules.check)
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
    kernel = _kernel(kernel_shape, w)
    count = len(kernel)
    strides = strides or [1] * count
    dilations = dilations or [1] * count
    sizes = static_dims(x)[2:] if output_shape or auto_pad in ("SAME_UPPER", "SAME_LOWER") else None
    crops = rules.conv_transpose_crops(
        sizes, kernel, strides, dilations, output_padding, output_shape, auto_pad, pads
    )
    if all(begin == end and append < s for (begin, end, append), s in zip(crops, strides, strict=True)):
        padding, extra = [begin for begin, _, _ in crops], [append for _, _, append in crops]
        return _CONV_TRANSPOSE[count](x, w, b, strides, padding, extra, group, dilations)
    y = _CONV_TRANSPOSE[count](x, w, None, strides, 0, 0, group, dilations)
    y = F.pad(y, [p for begin, end, append in reversed(crops) for p in (-begin, append - end)])
    return y if b is None else y + b.reshape([-1] + [1] * count)


def _fits_torch(geometry):
    """torch's own pools take symmetric pads of at most half the window."""
    return all(
        b == e and b <= rules.span(k, d) // 2
        for (b, e), k, d in zip(geometry.pads, geometry.kernel, geometry.dilations, strict=True)
    )


@register("MaxPool", since=1, check=rules.check)
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
    context,
):
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[len(kernel_shape)]
    want_indices = context.output_used(1)
    explicit = _pool_window(x, kernel_shape, strides, dilations, auto_pad, pads)
    if _fits_torch(explicit):
        # torch's ceil_mode drops a last window that starts in the end padding, as ONNX does.
        arguments = (kernel_shape, explicit.strides, [b for b, _ in explicit.pads], explicit.dilations)
        return (
            pool(x, *arguments, bool(ceil_mode), want_indices)
            if want_indices
            else pool(x, *arguments, bool(ceil_mode))
        )
    if want_indices:
        raise NeedsValues("indices with asymmetric pads")  # fails loudly at run time too
    geometry = _pool_window(x, kernel_shape, strides, dilations, auto_pad, pads, ceil_mode)
    return pool(_pad(x, geometry.pads, -math.inf), kernel_shape, geometry.strides, 0, geometry.dilations)


def _max_pool_indices(x, result, storage_order):
    """torch gives row-major indices per (n, c) plane; ONNX counts over the whole tensor, and with
    storage_order=1 the spatial axes column-major."""
    y, indices = result
    spatial_sizes = list(x.shape[2:])
    if storage_order:
        position = indices
        column_major = torch.zeros_like(indices)
        for size in reversed(spatial_sizes):  # the last spatial axis first
            position, coordinate = torch.div(position, size, rounding_mode="floor"), position % size
            column_major = column_major * size + coordinate
        indices = column_major
    spatial = math.prod(spatial_sizes)
    n, c = x.shape[0], x.shape[1]
    offsets = (torch.arange(n * c, dtype=torch.int64) * spatial).reshape([n, c] + [1] * (x.dim() - 2))
    return y, indices + offsets


@register("MaxPool", since=8, check=rules.check)
def max_pool_8(
    x,
    *,
    auto_pad="NOTSET",
    ceil_mode=0,
    dilations=None,
    kernel_shape,
    pads=None,
    storage_order=0,
    strides=None,
    context,
):
    result = max_pool(
        x,
        auto_pad=auto_pad,
        ceil_mode=ceil_mode,
        dilations=dilations,
        kernel_shape=kernel_shape,
        pads=pads,
        storage_order=storage_order,
        strides=strides,
        context=context,
    )
    if not context.output_used(1):
        return result
    if isinstance(x, torch.fx.Proxy):
        raise NeedsValues("indices offsets need the batch size")
    return _max_pool_indices(x, result, storage_order)


def _window_sum(x, geometry):
    """The sum over each VALID window of an already padded x: avg_pool times the area, or, with
    dilations (which torch's avg_pool lacks), a depthwise convolution with ones."""
    count = len(geometry.kernel)
    if all(d == 1 for d in geometry.dilations):
        pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[count]
        return pool(x, geometry.kernel, geometry.strides, 0) * math.prod(geometry.kernel)
    channels = dims(x)[1]
    if channels is None:
        raise NeedsValues("dilated pooling needs the channel count")
    ones = torch.ones([channels, 1, *geometry.kernel], dtype=dtype_of(x))
    return _CONV[count](x, ones, None, geometry.strides, 0, geometry.dilations, channels)


@register("AveragePool", since=7, check=rules.check)
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
    geometry = _pool_window(x, kernel_shape, strides, dilations, auto_pad, pads, ceil_mode, count_include_pad)
    explicit = _pool_window(x, kernel_shape, strides, dilations, auto_pad, pads)
    if _fits_torch(explicit) and all(d == 1 for d in geometry.dilations):
        pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[len(kernel_shape)]
        padding = [b for b, _ in explicit.pads]
        return pool(x, kernel_shape, geometry.strides, padding, bool(ceil_mode), bool(count_include_pad))
    # ONNX AveragePool: the window's sum over the positions counted (the input, and the explicit
    # pads with count_include_pad=1; never ceil_mode's extra end padding).
    counted = _pad(_pad(torch.ones_like(x[:1]), geometry.counted, 1.0), rules.uncounted(geometry))
    return _window_sum(_pad(x, geometry.pads), geometry) / _window_sum(counted, geometry)


@register("LpPool", since=2, check=rules.check)
def lp_pool(x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape, p=2, pads=None, strides=None):
    geometry = _pool_window(x, kernel_shape, strides, dilations, auto_pad, pads, ceil_mode)
    return torch.pow(_window_sum(_pad(torch.pow(torch.abs(x), p), geometry.pads), geometry), 1.0 / p)


@register("GlobalAveragePool", since=1)
def global_average_pool(x):
    return torch.mean(x, dim=tuple(range(2, rank(x))), keepdim=True)


@register("GlobalMaxPool", since=1)
def global_max_pool(x):
    return torch.amax(x, dim=tuple(range(2, rank(x))), keepdim=True)


@register("GlobalLpPool", since=2)
def global_lp_pool(x, *, p=2):
    return torch.linalg.vector_norm(x, ord=p, dim=tuple(range(2, rank(x))), keepdim=True)


def batch_norm_in_mode(x, running_mean, running_var, weight, bias, training, momentum, epsilon, unbiased):
    """BatchNormalization in the module's mode at run time; `momentum` is torch's (1 - ONNX's).

    Training: batch statistics, running statistics updated in place. torch's F.batch_norm updates
    the running variance with the unbiased batch variance; ONNX and Keras use the population one.
    """
    # Spelled torch.nn.functional: the .py export copies this function into the generated file.
    if not training or unbiased:
        return torch.nn.functional.batch_norm(
            x, running_mean, running_var, weight, bias, bool(training), momentum, epsilon
        )
    y = torch.nn.functional.batch_norm(x, None, None, weight, bias, True, 0.0, epsilon)
    with torch.no_grad():
        batch_var, batch_mean = torch.var_mean(x, dim=[0, *range(2, x.dim())], unbiased=False)
        running_mean.lerp_(batch_mean, momentum)
        running_var.lerp_(batch_var, momentum)
    return y


def _batch_norm(x, scale, b, mean, var, epsilon, momentum):
    mode = training.current()
    if not mode.maybe_training:
        return F.batch_norm(x, mean, var, scale, b, False, 0.0, epsilon)
    arguments = (x, mean, var, scale, b, mode.flag, 1.0 - momentum, epsilon, mode.unbiased_running_variance)
    if is_proxy(x) or is_proxy(mode.flag):
        # One fx node that reads `self.training` when it runs, so train()/eval() take effect.
        return x.tracer.create_proxy("call_function", batch_norm_in_mode, arguments, {})
    return batch_norm_in_mode(*arguments)


@register("BatchNormalization", since=7)
def batch_normalization_7(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, spatial=1):
    return _batch_norm(x, scale, b, mean, var, epsilon, momentum)


@register("BatchNormalization", since=9)
def batch_normalization_9(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9):
    return _batch_norm(x, scale, b, mean, var, epsilon, momentum)


@register("BatchNormalization", since=14)
def batch_normalization(
    input_mean_var, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, training_mode=0, context
):
    x = input_mean_var
    attributes = {"training_mode": training_mode}
    if not training.updates_running_statistics(attributes, context):
        # Inference graphs, and trainable exports (torch.onnx TRAINING): the module's mode decides.
        return _batch_norm(x, scale, b, mean, var, epsilon, momentum)
    axes = [0] + list(range(2, rank(x)))
    current_mean = torch.mean(x, dim=axes)
    current_var = torch.var(x, dim=axes, unbiased=False)
    y = F.batch_norm(x, current_mean, current_var, scale, b, False, 0.0, epsilon)
    return y, mean * momentum + current_mean * (1 - momentum), var * momentum + current_var * (1 - momentum)


@register("InstanceNormalization", since=6)
def instance_normalization(input, scale, b, *, epsilon=1e-5):  # noqa: A002
    return F.instance_norm(input, weight=scale, bias=b, eps=epsilon)


def _stash(x, stash_type):
    return x.float() if stash_type == 1 and x.dtype in (torch.float16, torch.bfloat16) else x


@register("LayerNormalization", since=17)
def layer_normalization(x, scale, b=None, *, axis=-1, epsilon=1e-5, stash_type=1, context):
    r = rank(x)
    axis = axis + r if axis < 0 else axis
    if not context.output_used(1) and not context.output_used(2):
        try:
            normalized = tuple(dims(x)[axis:])
            if (
                None not in normalized
                and tuple(dims(scale)) == tuple(normalized)
                and (b is None or tuple(dims(b)) == tuple(normalized))
            ):
                return F.layer_norm(x, normalized, scale, b, epsilon)
        except NeedsValues:
            pass
    axes = tuple(range(axis, r))
    computed = _stash(x, stash_type)
    mean = torch.mean(computed, dim=axes, keepdim=True)
    inverse_std = torch.rsqrt(torch.mean((computed - mean) ** 2, dim=axes, keepdim=True) + epsilon)
    y = ((computed - mean) * inverse_std).to(x.dtype) * scale
    if b is not None:
        y = y + b
    return y, mean, inverse_std


@register("GroupNormalization", since=18)
def group_normalization_18(x, scale, bias, *, epsilon=1e-5, num_groups):
    channels = static_dims(x)[1]
    # Opset 18: scale and bias hold one value per group.
    repeat = channels // num_groups
    return F.group_norm(
        x, num_groups, scale.repeat_interleave(repeat), bias.repeat_interleave(repeat), epsilon
    )


@register("GroupNormalization", since=21)
def group_normalization(x, scale, bias, *, epsilon=1e-5, num_groups, stash_type=1):
    return F.group_norm(_stash(x, stash_type), num_groups, scale, bias, epsilon).to(x.dtype)


@register("RMSNormalization", since=23)
def rms_normalization(x, scale, *, axis=-1, epsilon=1e-5, stash_type=1):
    r = rank(x)
    axis = axis + r if axis < 0 else axis
    computed = _stash(x, stash_type)
    normalized = computed * torch.rsqrt(
        torch.mean(computed * computed, dim=tuple(range(axis, r)), keepdim=True) + epsilon
    )
    return normalized.to(x.dtype) * scale


@register("LRN", since=1)
def lrn(x, *, alpha=0.0001, beta=0.75, bias=1.0, size):
    return F.local_response_norm(x, size, alpha, beta, bias)


@register("LpNormalization", since=1)
def lp_normalization(input, *, axis=-1, p=2):  # noqa: A002
    norm = torch.linalg.vector_norm(input, ord=p, dim=axis, keepdim=True)
    # As onnx's reference: a zero norm leaves zeros (not 0/0's NaN).
    return input / torch.where(norm == 0, torch.ones_like(norm), norm)


@register("MeanVarianceNormalization", since=9)
def mean_variance_normalization(x, *, axes=(0, 2, 3)):
    mean = torch.mean(x, dim=tuple(axes), keepdim=True)
    variance = torch.mean((x - mean) ** 2, dim=tuple(axes), keepdim=True)
    return (x - mean) / (torch.sqrt(variance) + 1e-9)


def _dropout(data, ratio: float, context):
    """Dropout where the graph has it, applied only when the module trains (inverted scaling)."""
    mode = training.current()
    if context.output_used(1):
        if mode.maybe_training:
            raise NeedsValues("Dropout's mask output in a trainable module")
        return data, torch.ones_like(data, dtype=torch.bool)
    if not mode.maybe_training or ratio == 0:
        return data
    if is_proxy(data) or is_proxy(mode.flag):
        return data.tracer.create_proxy("call_function", F.dropout, (data, ratio, mode.flag), {})
    return F.dropout(data, ratio, bool(mode.flag))


@register("Dropout", since=7)
def dropout_7(data, *, ratio=0.5, context):
    return _dropout(data, ratio, context)


@register("Dropout", since=12)
def dropout(data, ratio=None, training_mode=None, *, seed=None, context):
    from toolkit.importers.torch.ops.values import maybe_known

    if training_mode is not None:
        # ONNX: training_mode given says when to drop, whatever the module's mode (a trainable
        # export leaves it out, so that its Dropout nodes follow train()/eval()).
        mode = maybe_known(training_mode)
        if mode is None or bool(mode):
            raise NeedsValues("training-mode dropout")
        return data, torch.ones_like(data, dtype=torch.bool)
    ratio_value = 0.5 if ratio is None else maybe_known(ratio)
    if ratio_value is None:
        raise NeedsValues("Dropout's ratio computed by the graph")
    return _dropout(data, float(ratio_value), context)


@register("MaxUnpool", since=9)
def max_unpool(x, i, output_shape=None, *, kernel_shape, pads=None, strides=None):
    sizes = static_dims(x)
    count = len(kernel_shape)
    strides = strides or [1] * count
    pads = pads or [0] * (2 * count)
    inferred = list(sizes[:2]) + [
        (sizes[2 + d] - 1) * strides[d] - (pads[d] + pads[count + d]) + kernel_shape[d] for d in range(count)
    ]
    # ONNX MaxUnpool: indices index the flattened unpooled tensor (batch and channel included)
    y = x.new_zeros(math.prod(inferred)).scatter(0, i.reshape(-1), x.reshape(-1)).reshape(inferred)
    if output_shape is None:
        return y
    target = maybe_known_ints(output_shape)
    if target is None:
        raise NeedsValues("MaxUnpool's output_shape is computed by the graph")
    # a larger output_shape keeps the unpooled values at the start of each axis, zeros after
    extra = [t - s for t, s in zip(target, inferred, strict=True)]
    return F.pad(y, [p for e in reversed(extra) for p in (0, e)])


@register("Col2Im", since=18)
def col2im(input, image_shape, block_shape, *, dilations=None, pads=None, strides=None):  # noqa: A002
    image, block = maybe_known_ints(image_shape), maybe_known_ints(block_shape)
    if image is None or block is None:
        raise NeedsValues("Col2Im's image_shape and block_shape are computed by the graph")
    count = len(image)
    dilations = dilations or [1] * count
    strides = strides or [1] * count
    pads = pads or [0] * (2 * count)
    padded = [image[d] + pads[d] + pads[count + d] for d in range(count)]
    blocks = [(padded[d] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1 for d in range(count)]
    # Where each (block element, block position) column entry lands in the flattened padded image;
    # overlapping entries add up (ONNX Col2Im, the inverse of im2col).
    offsets = np.indices(block).reshape(count, -1, 1) * np.reshape(dilations, (count, 1, 1))
    starts = np.indices(blocks).reshape(count, 1, -1) * np.reshape(strides, (count, 1, 1))
    target = np.ravel_multi_index(tuple(offsets + starts), padded).reshape(-1)
    batch = sizes_of(input)[0]
    channels = static_dims(input)[1] // math.prod(block)
    columns = input.reshape(batch, channels, -1)
    y = torch.zeros(1, dtype=input.dtype).expand(batch, channels, math.prod(padded))
    y = torch.index_add(y, 2, torch.from_numpy(target), columns).reshape(batch, channels, *padded)
    return y[(slice(None), slice(None), *(slice(pads[d], pads[d] + image[d]) for d in range(count)))]
