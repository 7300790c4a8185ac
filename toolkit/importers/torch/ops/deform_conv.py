"""DeformConv (2-D): each kernel tap reads X bilinearly at its offset position, then a grouped product.

As the reference (rules in importers/semantics/deform_conv.py, shared with TensorFlow): offsets are laid out
[N, offset_group, kH, kW, (y, x), oH, oW] in pixels, taps outside X read zero, and the optional mask
scales each tap. Sizes come from the tensors, so the batch may vary between calls.
"""

from __future__ import annotations

import torch

from toolkit.importers import common
from toolkit.importers.semantics import deform_conv as rules
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, dims, static_dims


def _taps(coordinate, size: int):
    """The two bilinear taps along one axis: (index, weight), a tap outside [0, size) weighing 0."""
    low = torch.floor(coordinate)
    fraction = coordinate - low
    taps = []
    for index, weight in ((low, 1.0 - fraction), (low + 1.0, fraction)):
        inside = (index >= 0) & (index <= size - 1)
        taps.append((torch.clamp(index, 0, size - 1).to(torch.int64), torch.where(inside, weight, 0.0)))
    return taps


def _sizes_after_batch(value):
    sizes = dims(value)[1:]
    if None in sizes:
        raise NeedsValues("DeformConv's channels and spatial sizes vary between calls")
    return sizes


@register("DeformConv", since=19, check=rules.check)
def deform_conv(
    x, w, offset, b=None, mask=None, *, dilations=None, group=1, kernel_shape=None, offset_group=1,
    pads=None, strides=None,
):  # fmt: skip
    kernel = list(kernel_shape or static_dims(w)[2:])
    strides, dilations = list(strides or [1, 1]), list(dilations or [1, 1])
    (top, _), (left, _) = common.split_pads(pads) if pads is not None else [(0, 0), (0, 0)]
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    channels, height, width = _sizes_after_batch(x)
    out_height, out_width = _sizes_after_batch(offset)[1:]
    batch, taps = x.shape[0], kernel[0] * kernel[1]
    offset = offset.to(compute).reshape(batch, offset_group, kernel[0], kernel[1], 2, out_height, out_width)
    rows = (torch.arange(kernel[0]) * dilations[0]).to(compute)[:, None] + (
        torch.arange(out_height) * strides[0] - top
    ).to(compute)[None, :]  # [kH, oH]
    columns = (torch.arange(kernel[1]) * dilations[1]).to(compute)[:, None] + (
        torch.arange(out_width) * strides[1] - left
    ).to(compute)[None, :]  # [kW, oW]
    y = rows[None, None, :, None, :, None] + offset[:, :, :, :, 0]  # [N, G, kH, kW, oH, oW]
    x_position = columns[None, None, None, :, None, :] + offset[:, :, :, :, 1]
    scale = torch.ones_like(y) if mask is None else mask.to(compute).reshape(y.shape)
    # X per offset group as [N, G, H*W, C/G], so one gather reads every tap of every channel.
    per_group = channels // offset_group
    features = x.to(compute).reshape(batch, offset_group, per_group, height * width).transpose(2, 3)
    sampled = None
    for row_index, row_weight in _taps(y, height):
        for column_index, column_weight in _taps(x_position, width):
            index = (row_index * width + column_index).reshape(batch, offset_group, -1, 1)
            values = torch.gather(features, 2, index.expand(-1, -1, -1, per_group))  # [N, G, K*P, C/G]
            weight = (row_weight * column_weight * scale).reshape(batch, offset_group, -1, 1)
            sampled = values * weight if sampled is None else sampled + values * weight
    # [N, G, K, P, C/G] -> [N, group, C/group, K, P], then the grouped product with W.
    positions = out_height * out_width
    sampled = sampled.reshape(batch, offset_group, taps, positions, per_group).permute(0, 1, 4, 2, 3)
    sampled = sampled.reshape(batch, group, channels // group, taps, positions)
    filters = w.to(compute).reshape(group, -1, channels // group, taps)
    result = torch.einsum("ngckp,gock->ngop", sampled, filters).reshape(batch, -1, out_height, out_width)
    if b is not None:
        result = result + b.to(compute).reshape(1, -1, 1, 1)
    return result.to(x.dtype)
