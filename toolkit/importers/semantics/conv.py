"""Conv, ConvTranspose and the pools: kernel, strides, dilations, explicit pads from `pads` or
`auto_pad`, ceil_mode's extra end padding, what an average counts, and ConvTranspose's crops.

Every plan reduces an operator to "pad explicitly, then a VALID window of the framework", so the
two tables need no rule of their own about padding or output sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from toolkit.importers.common import split_pads

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def check(attributes, context) -> str:
    """The operator tables' up-front check for Conv, ConvTranspose and the pools."""
    auto_pad = attributes.get("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS and auto_pad != "":
        return f"auto_pad={auto_pad!r} is not one of {', '.join(AUTO_PADS)}"
    kernel = attributes.get("kernel_shape")
    if kernel:
        for name, length in (("strides", len(kernel)), ("dilations", len(kernel)), ("pads", 2 * len(kernel))):
            value = attributes.get(name)
            if value and len(value) != length:
                return f"{name} has {len(value)} values for a {len(kernel)}-d kernel (expected {length})"
    return ""


def span(kernel: int, dilation: int) -> int:
    """How many input positions one dilated window covers."""
    return (kernel - 1) * dilation + 1


def auto_pads(auto_pad, input_size, kernel, strides, dilations) -> list[tuple[int, int]]:
    """Explicit (begin, end) pads for SAME_UPPER/SAME_LOWER/VALID, from static spatial sizes.

    ONNX Conv/Pool: output = ceil(input / stride); the odd pixel of padding goes at the end for
    SAME_UPPER and at the beginning for SAME_LOWER.
    """
    if auto_pad == "VALID":
        return [(0, 0)] * len(kernel)
    pads = []
    for size, k, s, d in zip(input_size, kernel, strides, dilations, strict=True):
        total = max(0, (math.ceil(size / s) - 1) * s + span(k, d) - size)
        small, large = total // 2, total - total // 2
        pads.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    return pads


@dataclass(frozen=True)
class Window:
    """A Conv's or pool's geometry: `pads` explicit (begin, end) per spatial axis, or None for
    SAME_UPPER over spatial sizes unknown while building (a framework's own SAME then computes it)."""

    kernel: list[int]
    strides: list[int]
    dilations: list[int]
    pads: list[tuple[int, int]] | None


def window(kernel, strides=None, dilations=None, auto_pad="NOTSET", pads=None, sizes=None) -> Window:
    """The spec's defaults (stride 1, dilation 1, no padding) filled in and auto_pad made explicit."""
    count = len(kernel)
    kernel = [int(k) for k in kernel]
    strides = [int(s) for s in strides] if strides else [1] * count
    dilations = [int(d) for d in dilations] if dilations else [1] * count
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if sizes is None or any(s is None for s in sizes):
            if auto_pad == "SAME_LOWER":
                raise ValueError("auto_pad=SAME_LOWER needs static spatial sizes")
            return Window(kernel, strides, dilations, None)
        explicit = auto_pads(auto_pad, sizes, kernel, strides, dilations)
    elif auto_pad == "VALID" or not pads:
        explicit = [(0, 0)] * count
    else:
        explicit = split_pads(pads)
    return Window(kernel, strides, dilations, explicit)


def output_sizes(sizes, geometry: Window) -> list[int | None]:
    """floor((input + pads - span) / stride) + 1 per spatial axis (None where the input size is)."""
    return [
        None if n is None else (n + b + e - span(k, d)) // s + 1
        for n, (b, e), k, s, d in zip(
            sizes, geometry.pads, geometry.kernel, geometry.strides, geometry.dilations, strict=True
        )
    ]


@dataclass(frozen=True)
class PoolWindow(Window):
    """A pool's geometry: `pads` now include ceil_mode's extra end padding; `counted` are the pads
    an average divides by (the explicit ones with count_include_pad=1, none otherwise)."""

    counted: list[tuple[int, int]] | None = None


def pool_window(
    kernel,
    strides=None,
    dilations=None,
    auto_pad="NOTSET",
    pads=None,
    sizes=None,
    ceil_mode=0,
    count_include_pad=0,
) -> PoolWindow:
    geometry = window(kernel, strides, dilations, auto_pad, pads, sizes)
    if geometry.pads is None:
        raise ValueError("pooling with auto_pad=SAME_UPPER needs static spatial sizes")
    explicit = geometry.pads
    padded = explicit
    if ceil_mode:
        if sizes is None or any(n is None for n in sizes):
            raise ValueError("ceil_mode needs static spatial sizes")
        padded = []
        for n, (b, e), k, s, d in zip(
            sizes, explicit, geometry.kernel, geometry.strides, geometry.dilations, strict=True
        ):
            out = math.ceil((n + b + e - span(k, d)) / s) + 1
            # ONNX pooling (and torch): the last window must start inside the input or its begin pad.
            if (out - 1) * s >= n + b:
                out -= 1
            padded.append((b, max(e, (out - 1) * s + span(k, d) - n - b)))
    counted = explicit if count_include_pad else [(0, 0)] * len(explicit)
    return PoolWindow(geometry.kernel, geometry.strides, geometry.dilations, padded, counted)


def uncounted(geometry: PoolWindow) -> list[tuple[int, int]]:
    """The padding around `counted` that an average must not count (pads minus counted)."""
    return [(b - cb, e - ce) for (b, e), (cb, ce) in zip(geometry.pads, geometry.counted, strict=True)]


def conv_transpose_crops(
    sizes,
    kernel,
    strides=None,
    dilations=None,
    output_padding=None,
    output_shape=None,
    auto_pad="NOTSET",
    pads=None,
) -> list[tuple[int, int, int]]:
    """(begin crop, end crop, zeros appended first) per axis, against the full transposed output
    stride * (in - 1) + span: the result is (full ++ zeros)[begin : len - end].

    ONNX ConvTranspose: total = stride * (in - 1) + output_padding + span - out; SAME_UPPER (and an
    explicit output_shape) crops the smaller half at the beginning, SAME_LOWER at the end. A
    negative total asks for a larger output: zeros appended at the end. output_padding extends
    the end in every case (an explicit output_shape included).
    """
    count = len(kernel)
    strides = list(strides or [1] * count)
    dilations = list(dilations or [1] * count)
    output_padding = list(output_padding or [0] * count)
    if not output_shape and auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        explicit = [(0, 0)] * count if auto_pad == "VALID" or not pads else split_pads(pads)
        return [(b, e, extra) for (b, e), extra in zip(explicit, output_padding, strict=True)]
    targets = (
        list(output_shape)[-count:] if output_shape else [n * s for n, s in zip(sizes, strides, strict=True)]
    )
    crops = []
    for n, s, k, d, extra, target in zip(
        sizes, strides, kernel, dilations, output_padding, targets, strict=True
    ):
        total = s * (n - 1) + extra + span(k, d) - target
        if total < 0:
            crops.append((0, 0, extra - total))
            continue
        small, large = total // 2, total - total // 2
        begin, end = (large, small) if auto_pad == "SAME_LOWER" else (small, large)
        crops.append((begin, end, extra))
    return crops
