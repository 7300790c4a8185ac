"""Resize (every mode) and Upsample, as per-axis gathers (nearest) or interpolation matrices.

Each resized axis gets its own [output, input] weight matrix built with numpy at build time
from the spec's formulas (coordinate transformation, nearest rounding, linear/cubic kernels,
antialias, exclude_outside, tf_crop_and_resize extrapolation), so every mode is one einsum
per axis and the tag of a channels-last value is kept.
"""

from __future__ import annotations

import math
import string

import numpy as np
import tensorflow as tf

from toolkit.importers import common
from toolkit.importers.tensorflow import layout
from toolkit.importers.tensorflow.ops import maybe_known, register


def _source_coordinates(mode, out_size, in_size, scale, roi_start, roi_end):
    o = np.arange(out_size, dtype=np.float64)
    # ONNX reference: the formulas use the resized length in_size * scale, not rounded to out_size.
    out_size = in_size * scale
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        # ONNX Resize opset 19: centre the sampled region when out/in is not exactly the scale.
        adjustment = len(o) / out_size
        offset = in_size / 2 * (1 - adjustment)
        return offset + (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out_size > 1 else np.zeros_like(o)
    if mode == "align_corners":
        return o * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros_like(o)
    if mode == "asymmetric":
        return o / scale
    if mode == "tf_crop_and_resize":
        if out_size > 1:
            return roi_start * (in_size - 1) + o * (roi_end - roi_start) * (in_size - 1) / (out_size - 1)
        return np.full_like(o, 0.5 * (roi_start + roi_end) * (in_size - 1))
    raise ValueError(f"coordinate_transformation_mode {mode!r}")


def _nearest(x, nearest_mode):
    if nearest_mode == "round_prefer_floor":
        return np.ceil(x - 0.5)
    if nearest_mode == "round_prefer_ceil":
        return np.floor(x + 0.5)
    if nearest_mode == "floor":
        return np.floor(x)
    return np.ceil(x)


def _kernel(mode, distances, cubic_coeff_a):
    """Linear/cubic interpolation kernels of the spec, at (scaled) tap distances."""
    d = np.abs(distances)
    if mode == "linear":
        return np.clip(1 - d, 0, 1)
    a = cubic_coeff_a
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _weights(mode, coordinates, in_size, scale, antialias, cubic_coeff_a, exclude_outside):
    """The [output, input] interpolation matrix of one axis."""
    out_size = len(coordinates)
    reach = 1 if mode == "linear" else 2
    effective = min(scale, 1.0) if antialias else 1.0
    start = int(math.floor(-reach / effective) + 1)
    taps = np.arange(start, 2 - start) if mode == "cubic" else np.arange(start, start + 2 - 2 * start)
    base = np.floor(coordinates)
    ratio = coordinates - base
    # ONNX reference: an exact integer coordinate uses ratio 1 on the previous sample.
    exact = ratio == 0
    base, ratio = np.where(exact, base - 1, base), np.where(exact, 1.0, ratio)
    indices = base[:, None] + taps[None, :]
    coefficients = _kernel(mode, (taps[None, :] - ratio[:, None]) * effective, cubic_coeff_a)
    coefficients = coefficients / coefficients.sum(axis=1, keepdims=True)
    if exclude_outside:
        inside = (indices >= 0) & (indices < in_size)
        coefficients = np.where(inside, coefficients, 0.0)
        coefficients = coefficients / np.maximum(coefficients.sum(axis=1, keepdims=True), 1e-30)
    indices = np.clip(indices, 0, in_size - 1).astype(np.int64)
    matrix = np.zeros((out_size, in_size))
    np.add.at(matrix, (np.repeat(np.arange(out_size), len(taps)), indices.ravel()), coefficients.ravel())
    return matrix


def _resize(
    x,
    roi,
    scales,
    sizes,
    *,
    mode,
    coordinate_transformation_mode,
    nearest_mode="round_prefer_floor",
    cubic_coeff_a=-0.75,
    exclude_outside=0,
    extrapolation_value=0.0,
    antialias=0,
    axes=None,
    keep_aspect_ratio_policy="stretch",
    context=None,
):
    static = [maybe_known(v) for v in (roi, scales, sizes)]
    no_roi = static[0] is None or not np.size(static[0])
    if static[2] is None and sizes is not None and keep_aspect_ratio_policy == "stretch" and no_roi:
        # Sizes computed from shapes (F.interpolate(y, size=x.shape[-2:])): the axes whose size is
        # the input's own (a dynamic batch, the channels) are left alone, the rest are static.
        partial = _partial_sizes(context, axes)
        if partial is not None:
            axes, static[2] = partial
            roi, sizes = None, static[2]
    if any(
        known is None and given is not None for known, given in zip(static, (roi, scales, sizes), strict=True)
    ):
        return _resize_dynamic(
            layout.to_onnx(x),
            roi,
            scales,
            sizes,
            mode=mode,
            coordinate_transformation_mode=coordinate_transformation_mode,
            nearest_mode=nearest_mode,
            cubic_coeff_a=cubic_coeff_a,
            exclude_outside=exclude_outside,
            extrapolation_value=extrapolation_value,
            antialias=antialias,
            axes=axes,
            keep_aspect_ratio_policy=keep_aspect_ratio_policy,
        )
    roi, scales, sizes = static
    perm = x.perm if isinstance(x, layout.Transposed) else None
    stored = x.stored if perm else x
    rank = len(perm) if perm else stored.shape.rank
    axes = common.normalize_axes(axes, rank) if axes is not None else list(range(rank))
    in_sizes = [stored.shape[perm.index(a)] if perm else stored.shape[a] for a in axes]
    if not len(axes):
        return x
    if sizes is None or not len(sizes):
        # Scale 1 leaves an axis alone, whatever its size: only the resized axes need static sizes.
        cropping = coordinate_transformation_mode == "tf_crop_and_resize"
        kept = [k for k, s in enumerate(np.asarray(scales).reshape(-1)) if float(s) != 1.0 or cropping]
        if len(kept) < len(axes) and keep_aspect_ratio_policy == "stretch":
            axes = [axes[k] for k in kept]
            in_sizes = [in_sizes[k] for k in kept]
            scales = np.asarray(scales).reshape(-1)[kept]
            if not axes:
                return x
    if any(s is None for s in in_sizes):
        raise ValueError("Resize needs static sizes along the resized axes")
    if sizes is not None and len(sizes):
        sizes = common.as_ints(sizes)
        if keep_aspect_ratio_policy != "stretch":
            pick = min if keep_aspect_ratio_policy == "not_larger" else max
            common_scale = pick(o / i for o, i in zip(sizes, in_sizes, strict=True))
            scale_list = [common_scale] * len(axes)
            sizes = [int(math.floor(common_scale * i + 0.5)) for i in in_sizes]
        else:
            scale_list = [o / i for o, i in zip(sizes, in_sizes, strict=True)]
    else:
        scale_list = [float(s) for s in np.asarray(scales).reshape(-1)]
        sizes = [int(math.floor(i * s)) for i, s in zip(in_sizes, scale_list, strict=True)]
    roi = np.asarray(roi, np.float64).reshape(-1) if roi is not None and np.size(roi) else None
    letters = string.ascii_lowercase[:rank]
    y = stored
    for k, (axis, in_size, out_size, scale) in enumerate(zip(axes, in_sizes, sizes, scale_list, strict=True)):
        if in_size == out_size and scale == 1.0 and coordinate_transformation_mode != "tf_crop_and_resize":
            continue
        where = perm.index(axis) if perm else axis
        start, end = (roi[k], roi[k + len(axes)]) if roi is not None else (0.0, 1.0)
        coordinates = _source_coordinates(
            coordinate_transformation_mode, out_size, in_size, scale, start, end
        )
        outside = (coordinates < 0) | (coordinates > in_size - 1)
        if mode == "nearest":
            indices = np.clip(_nearest(coordinates, nearest_mode), 0, in_size - 1).astype(np.int64)
            y = tf.gather(y, indices, axis=where)
        else:
            matrix = _weights(mode, coordinates, in_size, scale, antialias, cubic_coeff_a, exclude_outside)
            target = letters[:where] + "Z" + letters[where + 1 :]
            y = tf.einsum(f"{letters},Z{letters[where]}->{target}", y, tf.constant(matrix, y.dtype))
        if coordinate_transformation_mode == "tf_crop_and_resize" and outside.any():
            shape = [1] * rank
            shape[where] = out_size
            mask = tf.constant(outside.reshape(shape))
            y = tf.where(mask, tf.cast(extrapolation_value, y.dtype), y)
    return layout.Transposed(y, perm) if perm else y


def _partial_sizes(context, axes):
    """(axes, sizes) of the axes really resized, when the core's shape tracking knows every size
    either as a number or as the input's own dimension; None otherwise."""
    if context is None or len(context.inputs) < 4 or context.inputs[3] is None or context.inputs[0] is None:
        return None
    elements, dims = context.inputs[3].elements, context.inputs[0].dims()
    if elements is None or dims is None:
        return None
    axes = common.normalize_axes(axes, len(dims)) if axes is not None else list(range(len(dims)))
    elements = list(elements.reshape(-1))
    if len(elements) != len(axes):
        return None
    resized, sizes = [], []
    for axis, size in zip(axes, elements, strict=True):
        if size == dims[axis]:
            continue
        if not isinstance(size, int):
            return None
        resized.append(axis)
        sizes.append(size)
    return resized, np.asarray(sizes, np.int64)


# --------------------------------------------------------------------------- run-time scales and sizes
# The same formulas in TF ops, for roi/scales/sizes that are graph inputs (known only when run).


def _source_coordinates_dynamic(mode, out_size, in_size, scale, roi_start, roi_end):
    o = tf.cast(tf.range(out_size), tf.float64)
    length = in_size * scale  # ONNX reference: the resized length, not rounded
    safe = tf.maximum(length - 1, 1e-30)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - tf.cast(out_size, tf.float64) / length)
        return offset + (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return tf.where(length > 1, (o + 0.5) / scale - 0.5, tf.zeros_like(o))
    if mode == "align_corners":
        return tf.where(length > 1, o * (in_size - 1) / safe, tf.zeros_like(o))
    if mode == "asymmetric":
        return o / scale
    if mode == "tf_crop_and_resize":
        spread = roi_start * (in_size - 1) + o * (roi_end - roi_start) * (in_size - 1) / safe
        return tf.where(length > 1, spread, tf.fill(tf.shape(o), 0.5 * (roi_start + roi_end) * (in_size - 1)))
    raise ValueError(f"coordinate_transformation_mode {mode!r}")


def _nearest_dynamic(x, nearest_mode):
    if nearest_mode == "round_prefer_floor":
        return tf.math.ceil(x - 0.5)
    if nearest_mode == "round_prefer_ceil":
        return tf.math.floor(x + 0.5)
    if nearest_mode == "floor":
        return tf.math.floor(x)
    return tf.math.ceil(x)


def _weights_dynamic(mode, coordinates, in_size, scale, antialias, cubic_coeff_a, exclude_outside):
    """_weights in TF ops: the tap count follows the run-time scale when antialiasing."""
    reach = 1.0 if mode == "linear" else 2.0
    effective = tf.minimum(scale, 1.0) if antialias else tf.constant(1.0, tf.float64)
    start = tf.math.floor(-reach / effective) + 1
    taps = tf.range(start, 2 - start)  # [start, 1 - start]: the reference's taps for both kernels
    base = tf.math.floor(coordinates)
    ratio = coordinates - base
    exact = tf.equal(
        ratio, 0
    )  # ONNX reference: an exact integer coordinate uses ratio 1 on the previous sample
    base, ratio = tf.where(exact, base - 1, base), tf.where(exact, tf.ones_like(ratio), ratio)
    indices = base[:, None] + taps[None, :]
    d = tf.abs((taps[None, :] - ratio[:, None]) * effective)
    if mode == "linear":
        coefficients = tf.clip_by_value(1 - d, 0.0, 1.0)
    else:
        a = cubic_coeff_a
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        coefficients = tf.where(d <= 1, near, tf.where(d < 2, far, tf.zeros_like(d)))
    coefficients = coefficients / tf.reduce_sum(coefficients, axis=1, keepdims=True)
    if exclude_outside:
        inside = (indices >= 0) & (indices < in_size)
        coefficients = tf.where(inside, coefficients, tf.zeros_like(coefficients))
        coefficients = coefficients / tf.maximum(tf.reduce_sum(coefficients, axis=1, keepdims=True), 1e-30)
    indices = tf.cast(tf.clip_by_value(indices, 0, in_size - 1), tf.int32)
    return tf.reduce_sum(tf.one_hot(indices, in_size, dtype=tf.float64) * coefficients[..., None], axis=1)


def _resize_dynamic(
    x,
    roi,
    scales,
    sizes,
    *,
    mode,
    coordinate_transformation_mode,
    nearest_mode,
    cubic_coeff_a,
    exclude_outside,
    extrapolation_value,
    antialias,
    axes,
    keep_aspect_ratio_policy,
):
    rank = x.shape.rank
    axes = common.normalize_axes(axes, rank) if axes is not None else list(range(rank))
    in_sizes = [x.shape[a] for a in axes]
    if any(s is None for s in in_sizes):
        raise ValueError("Resize needs static sizes along the resized axes")
    in_tensor = tf.constant(in_sizes, tf.float64)
    if sizes is not None and sizes.shape.num_elements() != 0:
        wanted = tf.cast(tf.reshape(sizes, [-1]), tf.float64)
        ratios = wanted / in_tensor
        if keep_aspect_ratio_policy != "stretch":
            pick = tf.reduce_min if keep_aspect_ratio_policy == "not_larger" else tf.reduce_max
            scale_tensor = tf.fill([len(axes)], pick(ratios))
            out_sizes = tf.math.floor(scale_tensor * in_tensor + 0.5)
        else:
            scale_tensor, out_sizes = ratios, wanted
    else:
        scale_tensor = tf.cast(tf.reshape(scales, [-1]), tf.float64)
        out_sizes = tf.math.floor(in_tensor * scale_tensor)
    out_sizes = tf.cast(out_sizes, tf.int32)
    has_roi = roi is not None and roi.shape.num_elements() != 0
    roi = tf.cast(tf.reshape(roi, [-1]), tf.float64) if has_roi else None
    letters = string.ascii_lowercase[:rank]
    y = x
    for k, (axis, in_size) in enumerate(zip(axes, in_sizes, strict=True)):
        start, end = (roi[k], roi[k + len(axes)]) if has_roi else (0.0, 1.0)
        coordinates = _source_coordinates_dynamic(
            coordinate_transformation_mode, out_sizes[k], in_size, scale_tensor[k], start, end
        )
        if mode == "nearest":
            indices = tf.clip_by_value(_nearest_dynamic(coordinates, nearest_mode), 0, in_size - 1)
            y = tf.gather(y, tf.cast(indices, tf.int32), axis=axis)
        else:
            matrix = _weights_dynamic(
                mode, coordinates, in_size, scale_tensor[k], antialias, cubic_coeff_a, exclude_outside
            )
            target = letters[:axis] + "Z" + letters[axis + 1 :]
            y = tf.einsum(f"{letters},Z{letters[axis]}->{target}", y, tf.cast(matrix, y.dtype))
        if coordinate_transformation_mode == "tf_crop_and_resize":
            outside = (coordinates < 0) | (coordinates > in_size - 1)
            shape = tf.tensor_scatter_nd_update(tf.ones([rank], tf.int32), [[axis]], [out_sizes[k]])
            y = tf.where(tf.reshape(outside, shape), tf.cast(extrapolation_value, y.dtype), y)
    return y


@register("Resize", since=10, layout_mode="any")
def resize_10(x, scales, *, mode="nearest"):
    return _resize(
        x, None, scales, None, mode=mode, coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )


@register("Resize", since=11, layout_mode="any")
def resize_11(
    x,
    roi=None,
    scales=None,
    sizes=None,
    *,
    coordinate_transformation_mode="half_pixel",
    cubic_coeff_a=-0.75,
    exclude_outside=0,
    extrapolation_value=0.0,
    mode="nearest",
    nearest_mode="round_prefer_floor",
    context,
):
    return _resize(
        x,
        roi,
        scales,
        sizes,
        mode=mode,
        coordinate_transformation_mode=coordinate_transformation_mode,
        nearest_mode=nearest_mode,
        cubic_coeff_a=cubic_coeff_a,
        exclude_outside=exclude_outside,
        extrapolation_value=extrapolation_value,
        context=context,
    )


@register("Resize", since=18, layout_mode="any")
def resize(
    x,
    roi=None,
    scales=None,
    sizes=None,
    *,
    antialias=0,
    axes=None,
    coordinate_transformation_mode="half_pixel",
    cubic_coeff_a=-0.75,
    exclude_outside=0,
    extrapolation_value=0.0,
    keep_aspect_ratio_policy="stretch",
    mode="nearest",
    nearest_mode="round_prefer_floor",
    context,
):
    return _resize(
        x,
        roi,
        scales,
        sizes,
        mode=mode,
        coordinate_transformation_mode=coordinate_transformation_mode,
        nearest_mode=nearest_mode,
        cubic_coeff_a=cubic_coeff_a,
        exclude_outside=exclude_outside,
        extrapolation_value=extrapolation_value,
        antialias=antialias,
        axes=axes,
        keep_aspect_ratio_policy=keep_aspect_ratio_policy,
        context=context,
    )


@register("Upsample", since=7, layout_mode="any")
def upsample_7(x, *, mode="nearest", scales):
    return _resize(
        x, None, scales, None, mode=mode, coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )


@register("Upsample", since=9, layout_mode="any")
def upsample(x, scales, *, mode="nearest"):
    return _resize(
        x, None, scales, None, mode=mode, coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )
