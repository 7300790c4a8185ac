"""Resize (every mode) and Upsample: the plan of `semantics/resize.py` as one gather (nearest) or
einsum (linear, cubic) per resized axis, keeping the tag of a channels-last value.

Scales or sizes known only at run time take the same formulas in TF ops (`_resize_dynamic`).
"""

from __future__ import annotations

import dataclasses
import string

import numpy as np
import tensorflow as tf

from toolkit.importers import common
from toolkit.importers.semantics import resize as rules
from toolkit.importers.tensorflow import layout
from toolkit.importers.tensorflow.ops import maybe_known, register


def _resize(x, roi, scales, sizes, *, context=None, **attributes):
    how = rules.Interpolation(**attributes)
    static = [maybe_known(v) for v in (roi, scales, sizes)]
    no_roi = static[0] is None or not np.size(static[0])
    if static[2] is None and sizes is not None and how.keep_aspect_ratio_policy == "stretch" and no_roi:
        # Sizes computed from shapes (F.interpolate(y, size=x.shape[-2:])): the axes whose size is
        # the input's own (a dynamic batch, the channels) are left alone, the rest are static.
        partial = rules.partial_sizes(context, how.axes)
        if partial is not None:
            how = dataclasses.replace(how, axes=partial[0])
            roi, sizes = None, partial[1]
            static[2] = sizes
    if any(
        known is None and given is not None for known, given in zip(static, (roi, scales, sizes), strict=True)
    ):
        return _resize_dynamic(layout.to_onnx(x), roi, scales, sizes, how)
    roi, scales, sizes = static
    perm = x.perm if isinstance(x, layout.Transposed) else None
    stored = x.stored if perm else x
    rank = len(perm) if perm else stored.shape.rank
    dims = [stored.shape[perm.index(a)] if perm else stored.shape[a] for a in range(rank)]
    resampling = rules.resample(dims, roi, scales, sizes, how)
    if resampling is None:
        raise ValueError("Resize needs static sizes along the resized axes")
    letters = string.ascii_lowercase[:rank]
    y = stored
    for weights in resampling:
        where = perm.index(weights.axis.axis) if perm else weights.axis.axis
        if weights.indices is not None:
            y = tf.gather(y, weights.indices, axis=where)
        else:
            target = letters[:where] + "Z" + letters[where + 1 :]
            y = tf.einsum(f"{letters},Z{letters[where]}->{target}", y, tf.constant(weights.matrix, y.dtype))
        if weights.outside is not None:
            shape = [1] * rank
            shape[where] = weights.axis.output_size
            y = tf.where(
                tf.constant(weights.outside.reshape(shape)), tf.cast(how.extrapolation_value, y.dtype), y
            )
    return layout.Transposed(y, perm) if perm else y


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


def _resize_dynamic(x, roi, scales, sizes, how):
    rank = x.shape.rank
    axes = common.normalize_axes(how.axes, rank) if how.axes is not None else list(range(rank))
    in_sizes = [x.shape[a] for a in axes]
    if any(s is None for s in in_sizes):
        raise ValueError("Resize needs static sizes along the resized axes")
    in_tensor = tf.constant(in_sizes, tf.float64)
    if sizes is not None and sizes.shape.num_elements() != 0:
        wanted = tf.cast(tf.reshape(sizes, [-1]), tf.float64)
        ratios = wanted / in_tensor
        if how.keep_aspect_ratio_policy != "stretch":
            pick = tf.reduce_min if how.keep_aspect_ratio_policy == "not_larger" else tf.reduce_max
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
            how.coordinate_transformation_mode, out_sizes[k], in_size, scale_tensor[k], start, end
        )
        if how.mode == "nearest":
            indices = tf.clip_by_value(_nearest_dynamic(coordinates, how.nearest_mode), 0, in_size - 1)
            y = tf.gather(y, tf.cast(indices, tf.int32), axis=axis)
        else:
            matrix = _weights_dynamic(
                how.mode,
                coordinates,
                in_size,
                scale_tensor[k],
                how.antialias,
                how.cubic_coeff_a,
                how.exclude_outside,
            )
            target = letters[:axis] + "Z" + letters[axis + 1 :]
            y = tf.einsum(f"{letters},Z{letters[axis]}->{target}", y, tf.cast(matrix, y.dtype))
        if how.coordinate_transformation_mode == "tf_crop_and_resize":
            outside = (coordinates < 0) | (coordinates > in_size - 1)
            shape = tf.tensor_scatter_nd_update(tf.ones([rank], tf.int32), [[axis]], [out_sizes[k]])
            y = tf.where(tf.reshape(outside, shape), tf.cast(how.extrapolation_value, y.dtype), y)
    return y


@register("Resize", since=10, layout_mode="any", check=rules.check)
def resize_10(x, scales, *, mode="nearest"):
    return _resize(
        x, None, scales, None, mode=mode, coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )


@register("Resize", since=11, layout_mode="any", check=rules.check)
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


@register("Resize", since=18, layout_mode="any", check=rules.check)
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


@register("Upsample", since=7, layout_mode="any", check=rules.check)
def upsample_7(x, *, mode="nearest", scales):
    return _resize(
        x, None, scales, None, mode=mode, coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )


@register("Upsample", since=9, layout_mode="any", check=rules.check)
def upsample(x, scales, *, mode="nearest"):
    return _resize(
        x, None, scales, None, mode=mode, coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )
