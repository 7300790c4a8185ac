"""DeformConv (2-D): each kernel tap reads X bilinearly at its offset position, then a grouped convolution.

As the reference: offsets are laid out [N, offset_group, kH, kW, (y, x), oH, oW] in pixels, taps
outside X read zero, the optional mask scales each tap.
"""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers import common
from toolkit.importers.semantics import deform_conv as rules
from toolkit.importers.tensorflow.ops import register


def _taps(coordinate, size):
    """The two bilinear taps along one axis: (index, weight), a tap outside [0, size) weighing 0."""
    low = tf.math.floor(coordinate)
    fraction = coordinate - low
    taps = []
    for index, weight in ((low, 1.0 - fraction), (low + 1.0, fraction)):
        inside = (index >= 0) & (index <= tf.cast(size - 1, index.dtype))
        taps.append((tf.clip_by_value(tf.cast(index, tf.int32), 0, size - 1), tf.where(inside, weight, 0.0)))
    return taps


@register("DeformConv", since=19, check=rules.check)
def deform_conv(
    x,
    w,
    offset,
    b=None,
    mask=None,
    *,
    dilations=None,
    group=1,
    kernel_shape=None,
    offset_group=1,
    pads=None,
    strides=None,
):
    kernel = list(kernel_shape or w.shape[2:])
    strides = list(strides or [1, 1])
    dilations = list(dilations or [1, 1])
    (top, _), (left, _) = common.split_pads(pads) if pads is not None else [(0, 0), (0, 0)]
    compute = tf.float64 if x.dtype == tf.float64 else tf.float32
    batch, height, width = tf.shape(x)[0], tf.shape(x)[2], tf.shape(x)[3]
    out_height, out_width = tf.shape(offset)[2], tf.shape(offset)[3]
    taps = kernel[0] * kernel[1]
    offset = tf.reshape(
        tf.cast(offset, compute), [batch, offset_group, kernel[0], kernel[1], 2, out_height, out_width]
    )
    rows = (
        tf.cast(tf.range(kernel[0]) * dilations[0], compute)[:, None]
        + tf.cast(tf.range(out_height) * strides[0] - top, compute)[None, :]
    )  # [kH, oH]
    columns = (
        tf.cast(tf.range(kernel[1]) * dilations[1], compute)[:, None]
        + tf.cast(tf.range(out_width) * strides[1] - left, compute)[None, :]
    )  # [kW, oW]
    y = rows[None, None, :, None, :, None] + offset[:, :, :, :, 0]  # [N, G, kH, kW, oH, oW]
    x_position = columns[None, None, None, :, None, :] + offset[:, :, :, :, 1]
    scale = tf.ones_like(y) if mask is None else tf.reshape(tf.cast(mask, compute), tf.shape(y))
    # X per offset group as [N, G, H*W, C/G], so one batched gather reads every tap of every channel.
    features = tf.transpose(
        tf.reshape(tf.cast(x, compute), [batch, offset_group, -1, height * width]), [0, 1, 3, 2]
    )
    sampled = None
    for row_index, row_weight in _taps(y, height):
        for column_index, column_weight in _taps(x_position, width):
            index = tf.reshape(row_index * width + column_index, [batch, offset_group, -1])
            values = tf.gather(features, index, batch_dims=2)  # [N, G, kH*kW*oH*oW, C/G]
            weight = tf.reshape(row_weight * column_weight * scale, [batch, offset_group, -1, 1])
            sampled = values * weight if sampled is None else sampled + values * weight
    # [N, G, K, P, C/G] -> [N, group, C/group, K, P], then the grouped product with W.
    sampled = tf.reshape(sampled, [batch, offset_group, taps, out_height * out_width, -1])
    sampled = tf.reshape(
        tf.transpose(sampled, [0, 1, 4, 2, 3]), [batch, group, -1, taps, out_height * out_width]
    )
    filters = tf.reshape(tf.cast(w, compute), [group, -1, tf.shape(w)[1], taps])
    y = tf.reshape(tf.einsum("ngckp,gock->ngop", sampled, filters), [batch, -1, out_height, out_width])
    if b is not None:
        y = y + tf.reshape(tf.cast(b, compute), [1, -1, 1, 1])
    return tf.cast(y, x.dtype)
