"""Resize and Upsample: which axes change, to what size and scale, and each axis's weights.

Resizing is separable, so a plan is one entry per resized axis, and each axis is one product with
an (output × input) matrix built here in numpy from the spec's formulas: coordinate transformation,
nearest rounding, the linear and cubic kernels, antialias, exclude_outside, and tf_crop_and_resize's
extrapolation mask. Both tables turn a plan into framework calls (a gather for nearest, one einsum
or matmul per axis); only sizes known just at run time need the framework's own arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toolkit.importers.common import normalize_axes

MODES = ("nearest", "linear", "cubic")
COORDINATE_TRANSFORMATION_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_crop_and_resize",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
KEEP_ASPECT_RATIO_POLICIES = ("stretch", "not_larger", "not_smaller")


def check(attributes, context) -> str:
    """The operator tables' up-front check: every enumerated attribute holds a value ONNX defines."""
    for name, allowed in (
        ("mode", MODES),
        ("coordinate_transformation_mode", COORDINATE_TRANSFORMATION_MODES),
        ("nearest_mode", NEAREST_MODES),
        ("keep_aspect_ratio_policy", KEEP_ASPECT_RATIO_POLICIES),
    ):
        value = attributes.get(name)
        if value is not None and value not in allowed:
            return f"{name}={value!r} is not one of {', '.join(allowed)}"
    return ""


@dataclass(frozen=True)
class Axis:
    """One resized axis: input and output sizes, the scale the coordinates use, its roi."""

    axis: int
    input_size: int | None
    output_size: int | None
    scale: float
    roi: tuple[float, float] = (0.0, 1.0)


def resized_axes(axes: Sequence[int] | None, rank: int) -> list[int]:
    return list(range(rank)) if axes is None else normalize_axes(axes, rank)


def scales_and_sizes(input_sizes, scales, sizes, keep_aspect_ratio_policy="stretch"):
    """Per axis (scale, output size). ONNX Resize: with sizes, scale = size / input, and
    not_larger/not_smaller take the smallest/largest scale for every axis, output = round(scale * input);
    with scales, output = floor(input * scale). A None input size gives a None output size."""
    if sizes is not None and len(sizes):
        sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
        ratios = [math.nan if n is None else size / n for size, n in zip(sizes, input_sizes, strict=True)]
        if keep_aspect_ratio_policy == "stretch":
            return list(zip(ratios, sizes, strict=True))
        pick = min if keep_aspect_ratio_policy == "not_larger" else max
        chosen = math.nan if None in input_sizes else pick(ratios)
        return [(chosen, None if n is None else int(math.floor(chosen * n + 0.5))) for n in input_sizes]
    scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    return [
        (s, None if n is None else int(math.floor(n * s))) for s, n in zip(scales, input_sizes, strict=True)
    ]


def plan(input_dims, roi, scales, sizes, *, axes=None, keep_aspect_ratio_policy="stretch", crop=False):
    """The axes a Resize changes (an axis at scale 1 and its own size is left alone, whatever its
    size, so a dynamic batch needs no value); `crop` is coordinate_transformation_mode=tf_crop_and_resize.
    An axis whose input size is unknown (None) and that does change needs the framework's run-time path."""
    axes = resized_axes(axes, len(input_dims))
    if not axes:
        return []
    input_sizes = [input_dims[a] for a in axes]
    pairs = scales_and_sizes(input_sizes, scales, sizes, keep_aspect_ratio_policy)
    roi = None if roi is None or not np.size(roi) else [float(v) for v in np.asarray(roi).reshape(-1)]
    result = []
    for k, (axis, n, (scale, output)) in enumerate(zip(axes, input_sizes, pairs, strict=True)):
        bounds = (0.0, 1.0) if roi is None else (roi[k], roi[len(axes) + k])
        if scale == 1.0 and output in (n, None) and (not crop or bounds == (0.0, 1.0)):
            continue
        result.append(Axis(axis, n, output, scale, bounds))
    return result


def source_coordinates(mode, axis: Axis) -> np.ndarray:
    """Where each output position samples the input, in input pixels (ONNX Resize's transforms)."""
    out_size, in_size, scale = axis.output_size, axis.input_size, axis.scale
    o = np.arange(out_size, dtype=np.float64)
    # ONNX reference: the formulas use the resized length in_size * scale, not rounded to out_size.
    length = in_size * scale
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        # ONNX Resize opset 19: centre the sampled region when out/in is not exactly the scale.
        offset = in_size / 2 * (1 - out_size / length)
        return offset + (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if length > 1 else np.zeros_like(o)
    if mode == "align_corners":
        return o * (in_size - 1) / (length - 1) if length > 1 else np.zeros_like(o)
    if mode == "asymmetric":
        return o / scale
    if mode == "tf_crop_and_resize":
        start, end = axis.roi
        if length > 1:
            return start * (in_size - 1) + o * (end - start) * (in_size - 1) / (length - 1)
        return np.full_like(o, 0.5 * (start + end) * (in_size - 1))
    raise ValueError(f"coordinate_transformation_mode {mode!r}")


def nearest(coordinates, nearest_mode):
    """ONNX nearest_mode rounding of source coordinates."""
    if nearest_mode == "round_prefer_floor":
        return np.ceil(coordinates - 0.5)
    if nearest_mode == "round_prefer_ceil":
        return np.floor(coordinates + 0.5)
    if nearest_mode == "floor":
        return np.floor(coordinates)
    return np.ceil(coordinates)


def kernel(mode, distances, cubic_coeff_a):
    """The spec's linear and cubic (Keys, coefficient a) kernels at tap distances."""
    d = np.abs(distances)
    if mode == "linear":
        return np.clip(1 - d, 0, 1)
    a = cubic_coeff_a
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def weights(mode, coordinates, in_size, scale, antialias=0, cubic_coeff_a=-0.75, exclude_outside=0):
    """The (output × input) interpolation matrix of one axis for linear or cubic."""
    out_size = len(coordinates)
    reach = 1 if mode == "linear" else 2
    # ONNX Resize opset 18 antialias: a downscaling kernel is stretched by 1 / scale.
    effective = min(scale, 1.0) if antialias else 1.0
    start = int(math.floor(-reach / effective) + 1)
    taps = np.arange(start, 2 - start)
    base = np.floor(coordinates)
    ratio = coordinates - base
    # ONNX reference: an exact integer coordinate uses ratio 1 on the previous sample.
    exact = ratio == 0
    base, ratio = np.where(exact, base - 1, base), np.where(exact, 1.0, ratio)
    indices = base[:, None] + taps[None, :]
    coefficients = kernel(mode, (taps[None, :] - ratio[:, None]) * effective, cubic_coeff_a)
    coefficients = coefficients / coefficients.sum(axis=1, keepdims=True)
    if exclude_outside:
        inside = (indices >= 0) & (indices < in_size)
        coefficients = np.where(inside, coefficients, 0.0)
        coefficients = coefficients / np.maximum(coefficients.sum(axis=1, keepdims=True), 1e-30)
    indices = np.clip(indices, 0, in_size - 1).astype(np.int64)
    matrix = np.zeros((out_size, in_size))
    np.add.at(matrix, (np.repeat(np.arange(out_size), len(taps)), indices.ravel()), coefficients.ravel())
    return matrix


@dataclass(frozen=True)
class Interpolation:
    """A Resize's attributes with the spec's defaults (opset 18/19); Upsample and Resize-10, which
    have no coordinate attributes, are asymmetric with floor rounding."""

    mode: str = "nearest"
    coordinate_transformation_mode: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"
    cubic_coeff_a: float = -0.75
    exclude_outside: int = 0
    extrapolation_value: float = 0.0
    antialias: int = 0
    axes: Sequence[int] | None = None
    keep_aspect_ratio_policy: str = "stretch"


@dataclass(frozen=True)
class AxisWeights:
    """How one axis is resampled: `indices` (nearest: a gather) or `matrix` (output × input), and
    `outside`, the output positions tf_crop_and_resize fills with extrapolation_value (or None)."""

    axis: Axis
    indices: np.ndarray | None
    matrix: np.ndarray | None
    outside: np.ndarray | None


def axis_weights(axis: Axis, how: Interpolation) -> AxisWeights:
    coordinates = source_coordinates(how.coordinate_transformation_mode, axis)
    outside = None
    if how.coordinate_transformation_mode == "tf_crop_and_resize":
        outside = (coordinates < 0) | (coordinates > axis.input_size - 1)
        outside = outside if outside.any() else None
    if how.mode == "nearest":
        indices = np.clip(nearest(coordinates, how.nearest_mode), 0, axis.input_size - 1).astype(np.int64)
        return AxisWeights(axis, indices, None, outside)
    matrix = weights(
        how.mode,
        coordinates,
        axis.input_size,
        axis.scale,
        how.antialias,
        how.cubic_coeff_a,
        how.exclude_outside,
    )
    return AxisWeights(axis, None, matrix, outside)


def resample(input_dims, roi, scales, sizes, how: Interpolation) -> list[AxisWeights] | None:
    """Each resized axis with its weights (none: the Resize is the identity), or None when a
    resized axis's sizes are known only at run time."""
    crop = how.coordinate_transformation_mode == "tf_crop_and_resize"
    axes = plan(
        input_dims,
        roi,
        scales,
        sizes,
        axes=how.axes,
        keep_aspect_ratio_policy=how.keep_aspect_ratio_policy,
        crop=crop,
    )
    if any(axis.input_size is None or axis.output_size is None for axis in axes):
        return None
    return [axis_weights(axis, how) for axis in axes]


def partial_sizes(context, axes):
    """(axes, sizes) of the axes really resized when `sizes` is computed from shapes
    (`F.interpolate(y, size=x.shape[-2:])`, Keras UpSampling2D) and the core's shape tracking knows
    each entry as a number or as the input's own dimension (a dynamic batch, the channels); else None."""
    if context is None or len(context.inputs) < 4 or context.inputs[3] is None or context.inputs[0] is None:
        return None
    elements, dims = context.inputs[3].elements, context.inputs[0].dims()
    if elements is None or dims is None:
        return None
    axes = resized_axes(axes, len(dims))
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
