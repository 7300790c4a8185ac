"""DeformConv's rules for both tables: the offsets' layout and what the importers support.

ONNX DeformConv (as its reference): offsets are [N, offset_group * kH * kW * 2, oH, oW], read as
[N, offset_group, kH, kW, (y, x), oH, oW] in pixels; taps outside X read zero; the optional mask
[N, offset_group * kH * kW, oH, oW] scales each tap. Both importers implement the 2-D case.
"""

from __future__ import annotations


def check(attributes, context) -> str:
    """The tables' up-front check: only 2-D DeformConv (kernel of two sizes, X of rank 4)."""
    kernel = attributes.get("kernel_shape")
    shape = context.inputs[0].shape if context.inputs and context.inputs[0] is not None else None
    if (kernel is not None and len(kernel) != 2) or (shape is not None and len(shape) != 4):
        return "only 2-D DeformConv is supported"
    return ""
