"""RoiAlign: bilinear samples on a regular grid inside each bin of each region, averaged or maxed.

Each region's bins come from `semantics/detection.py` (`roi_bins`); the samples per bin vary by
region, so every region samples the largest grid and masks the samples past its own.
"""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers.semantics import detection as rules
from toolkit.importers.tensorflow.ops import register


def _axis_taps(coordinate, size):
    """Low and high tap indices and their weights along one axis, with the spec's border rules."""
    size_f = tf.cast(size, coordinate.dtype)
    outside = (coordinate < -1.0) | (coordinate > size_f)
    coordinate = tf.maximum(coordinate, 0.0)
    low = tf.cast(tf.math.floor(coordinate), tf.int32)
    at_end = low >= size - 1
    low = tf.where(at_end, size - 1, low)
    high = tf.where(at_end, size - 1, low + 1)
    coordinate = tf.where(at_end, tf.cast(low, coordinate.dtype), coordinate)
    fraction = coordinate - tf.cast(low, coordinate.dtype)
    return low, high, 1.0 - fraction, fraction, outside


def _regions(rois, half_pixel, output_height, output_width, sampling_ratio, scale):
    """Each region's start and bin size [R, (x, y)], samples per bin [R, (x, y)], the most of any
    region per axis, and each region's sample count."""
    start, bin_size, grid = rules.roi_bins(
        rois[:, 0],
        rois[:, 1],
        rois[:, 2],
        rois[:, 3],
        spatial_scale=scale,
        half_pixel=half_pixel,
        output_height=output_height,
        output_width=output_width,
        sampling_ratio=sampling_ratio,
        maximum=tf.maximum,
        ceil=lambda v: tf.cast(tf.math.ceil(v), tf.int32),
    )
    start, bin_size = tf.stack(start, axis=1), tf.stack(bin_size, axis=1)  # [R, (x, y)]
    grid = tf.fill(tf.shape(start), sampling_ratio) if sampling_ratio > 0 else tf.stack(grid, axis=1)
    most = tf.reduce_max(grid, axis=0) if sampling_ratio <= 0 else tf.constant([sampling_ratio] * 2)
    count = tf.cast(tf.maximum(grid[:, 0] * grid[:, 1], 1), rois.dtype)  # samples per bin [R]
    return start, bin_size, grid, tf.maximum(most, 1), count


def _roi_align(x, rois, batch_indices, half_pixel, mode, output_height, output_width, sampling_ratio, scale):
    compute = tf.float64 if x.dtype == tf.float64 else tf.float32
    features = tf.transpose(tf.cast(x, compute), [0, 2, 3, 1])  # [N, H, W, C] for gathers
    height, width = tf.shape(x)[2], tf.shape(x)[3]
    start, bin_size, grid, most, count = _regions(
        tf.cast(rois, compute), half_pixel, output_height, output_width, sampling_ratio, scale
    )

    def positions(axis, pooled_count):
        # [R, bins, samples] coordinates along one axis, and which samples the region really takes.
        bins = tf.cast(tf.range(pooled_count), compute)[None, :, None]
        samples = tf.range(most[axis])
        steps = tf.cast(tf.maximum(grid[:, axis], 1), compute)[:, None, None]
        size = bin_size[:, axis][:, None, None]
        coordinate = (
            start[:, axis][:, None, None]
            + bins * size
            + (tf.cast(samples, compute)[None, None, :] + 0.5) * size / steps
        )
        taken = samples[None, :] < grid[:, axis][:, None]  # [R, samples]
        return coordinate, taken

    xs, x_taken = positions(0, output_width)  # [R, W_out, Sx]
    ys, y_taken = positions(1, output_height)  # [R, H_out, Sy]
    y_low, y_high, y_low_weight, y_high_weight, y_out = _axis_taps(ys, height)
    x_low, x_high, x_low_weight, x_high_weight, x_out = _axis_taps(xs, width)
    batch = tf.cast(batch_indices, tf.int32)[:, None, None, None, None]

    def expand_y(t):  # [R, H_out, Sy] -> [R, H_out, 1, Sy, 1]
        return t[:, :, None, :, None]

    def expand_x(t):  # [R, W_out, Sx] -> [R, 1, W_out, 1, Sx]
        return t[:, None, :, None, :]

    shape = tf.shape(expand_y(ys) + expand_x(xs))
    terms = []
    for y_index, y_weight in ((y_low, y_low_weight), (y_high, y_high_weight)):
        for x_index, x_weight in ((x_low, x_low_weight), (x_high, x_high_weight)):
            index = tf.stack(
                [
                    tf.broadcast_to(batch, shape),
                    tf.broadcast_to(expand_y(y_index), shape),
                    tf.broadcast_to(expand_x(x_index), shape),
                ],
                axis=-1,
            )
            weight = expand_y(y_weight) * expand_x(x_weight)
            terms.append(tf.gather_nd(features, index) * weight[..., None])  # [R, H_out, W_out, Sy, Sx, C]
    outside = (expand_y(y_out) | expand_x(x_out))[..., None]
    taken = (y_taken[:, None, None, :, None] & x_taken[:, None, None, None, :])[..., None]
    if mode == "avg":
        sample = tf.where(outside, 0.0, terms[0] + terms[1] + terms[2] + terms[3])
        total = tf.reduce_sum(tf.where(taken, sample, 0.0), axis=[3, 4])
        y = total / count[:, None, None, None]
    else:
        # onnxruntime's max mode: the largest weighted tap of each sample, then the largest sample.
        sample = tf.where(outside, 0.0, tf.reduce_max(tf.stack(terms), axis=0))
        y = tf.reduce_max(tf.where(taken, sample, sample.dtype.min), axis=[3, 4])
        y = tf.where(tf.reduce_any(taken, axis=[3, 4]), y, 0.0)  # a region too small to sample gives 0
    return tf.cast(tf.transpose(y, [0, 3, 1, 2]), x.dtype)  # [R, C, H_out, W_out]


@register("RoiAlign", since=10, check=rules.roi_align_check)
def roi_align_10(
    x,
    rois,
    batch_indices,
    *,
    mode="avg",
    output_height=1,
    output_width=1,
    sampling_ratio=0,
    spatial_scale=1.0,
):
    return _roi_align(
        x, rois, batch_indices, False, mode, output_height, output_width, sampling_ratio, spatial_scale
    )


@register("RoiAlign", since=16, check=rules.roi_align_check)
def roi_align(
    x,
    rois,
    batch_indices,
    *,
    coordinate_transformation_mode="half_pixel",
    mode="avg",
    output_height=1,
    output_width=1,
    sampling_ratio=0,
    spatial_scale=1.0,
):
    half_pixel = coordinate_transformation_mode == "half_pixel"
    return _roi_align(
        x, rois, batch_indices, half_pixel, mode, output_height, output_width, sampling_ratio, spatial_scale
    )
