"""Resize (every mode, coordinate transformation, nearest mode, antialias, roi, axes) and Upsample.

Resizing is separable and linear per axis, so each resized axis is one matrix product with an
(output × input) interpolation matrix. The matrix is computed while building, from onnx's
reference 1-D interpolation applied to the identity, so every mode matches the spec exactly;
common cases use F.interpolate instead (same numbers, faster).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from toolkit.importers.common import normalize_axes
from toolkit.importers.torch.ops.symbolic import symbolic_ints
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, dims, dtype_of, is_proxy, maybe_known, rank


def _coefficients(mode, nearest_mode, cubic_coeff_a, antialias):
    from onnx.reference.ops import op_resize

    if mode == "nearest":
        return lambda ratio, scale: op_resize._nearest_coeffs(ratio, mode=nearest_mode)
    if mode == "cubic":
        cubic = op_resize._cubic_coeffs_antialias if antialias else op_resize._cubic_coeffs
        return lambda ratio, scale: cubic(ratio, scale, A=cubic_coeff_a)
    return op_resize._linear_coeffs_antialias if antialias else op_resize._linear_coeffs


def _axis_matrix(size, output, scale, coefficients, roi, transform, exclude_outside):
    """(output × size) interpolation weights and the output positions that extrapolate."""
    from onnx.reference.ops import op_resize

    common = dict(roi=roi, coordinate_transformation_mode=transform, exclude_outside=exclude_outside)
    weights = op_resize._interpolate_1d_along_axis(np.eye(size), 0, scale, output, coefficients, **common)
    outside = op_resize._interpolate_1d_along_axis(
        np.zeros((size, 1)), 0, scale, output, coefficients, extrapolation_value=np.nan, **common
    )
    return weights, np.isnan(outside[:, 0])


def _resize(
    x,
    roi,
    scales,
    sizes,
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
):
    r = rank(x)
    axes = list(range(r)) if axes is None else normalize_axes(axes, r)
    input_sizes = dims(x)
    roi = None if roi is None or roi.size == 0 else [float(v) for v in roi]
    if sizes is not None and len(sizes):
        scale_list = [sizes[i] / _need(input_sizes[a]) for i, a in enumerate(axes)]
        if keep_aspect_ratio_policy != "stretch":
            chosen = min(scale_list) if keep_aspect_ratio_policy == "not_larger" else max(scale_list)
            scale_list = [chosen] * len(axes)
            output_list = [int(chosen * input_sizes[a] + 0.5) for a in axes]
        else:
            output_list = [int(s) for s in sizes]
    else:
        scale_list = [float(s) for s in scales]
        output_list = [
            int(math.floor(s * input_sizes[a])) if input_sizes[a] is not None else None
            for s, a in zip(scale_list, axes, strict=True)
        ]
    plan = []
    for index, axis in enumerate(axes):
        scale, output = scale_list[index], output_list[index]
        axis_roi = None if roi is None else [roi[index], roi[len(axes) + index]]
        if (
            math.isclose(scale, 1.0)
            and (output is None or output == input_sizes[axis])
            and (axis_roi is None or (math.isclose(axis_roi[0], 0.0) and math.isclose(axis_roi[1], 1.0)))
        ):
            continue
        plan.append((axis, scale, output, axis_roi))
    if not plan:
        return x
    fast = _interpolate(
        x,
        plan,
        r,
        mode,
        coordinate_transformation_mode,
        nearest_mode,
        cubic_coeff_a,
        antialias,
        exclude_outside,
    )
    if fast is not None:
        return fast
    coefficients = _coefficients(mode, nearest_mode, cubic_coeff_a, antialias)
    outside_any = None
    dtype = dtype_of(x) if dtype_of(x).is_floating_point else torch.float64
    y = x.to(dtype)
    for axis, scale, output, axis_roi in plan:
        weights, outside = _axis_matrix(
            _need(input_sizes[axis]),
            _need(output),
            scale,
            coefficients,
            axis_roi,
            coordinate_transformation_mode,
            bool(exclude_outside),
        )
        y = torch.movedim(
            torch.matmul(torch.movedim(y, axis, -1), torch.from_numpy(weights.T).to(dtype)), -1, axis
        )
        if outside.any():
            shape = [1] * r
            shape[axis] = -1
            mask = torch.from_numpy(outside).reshape(shape)
            outside_any = mask if outside_any is None else outside_any | mask
    if outside_any is not None:
        y = torch.where(outside_any, torch.tensor(extrapolation_value, dtype=dtype), y)
    if not dtype_of(x).is_floating_point:
        y = torch.round(y).to(dtype_of(x))
    return y


def _need(value):
    if value is None:
        raise NeedsValues("resized dimension varies between calls")
    return value


def _interpolate(x, plan, r, mode, transform, nearest_mode, cubic_a, antialias, exclude_outside):
    """F.interpolate for the spatial-only cases where it computes exactly what ONNX says."""
    if antialias or exclude_outside or any(axis < 2 for axis, *_ in plan) or r not in (3, 4, 5):
        return None
    if any(roi is not None for *_, roi in plan) or not dtype_of(x).is_floating_point:
        return None
    if any(output is None for _, _, output, _ in plan) or len(plan) != r - 2:
        return None
    sizes = [output for _, _, output, _ in plan]
    if not all(math.isclose(s, o / dims(x)[axis]) for axis, s, o, _ in plan):
        return None  # the spec's coordinates use the scale, F.interpolate's the sizes
    if mode == "nearest" and transform == "asymmetric" and nearest_mode == "floor":
        if all(float(s).is_integer() for _, s, _, _ in plan):
            return F.interpolate(x, size=sizes, mode="nearest")
    if mode in ("linear", "cubic"):
        torch_mode = {3: "linear", 4: "bilinear", 5: "trilinear"}[r] if mode == "linear" else "bicubic"
        if mode == "cubic" and (r != 4 or cubic_a != -0.75):
            return None
        if transform == "align_corners":
            return F.interpolate(x, size=sizes, mode=torch_mode, align_corners=True)
        if transform == "half_pixel" or (transform == "pytorch_half_pixel" and min(sizes) > 1):
            return F.interpolate(x, size=sizes, mode=torch_mode, align_corners=False)
    return None


def _sizes_and_axes(x, sizes, axes, roi=None):
    """Resize sizes whose unknown entries are x's own sizes (`interpolate(y, size=...)` keeps N and C).

    Those axes are not resized, so they drop out of `axes`: a dynamic batch no longer makes the
    whole Resize run eagerly, and the graph stays exportable with torch.export.
    """
    if sizes is None or maybe_known(sizes) is not None:
        return _static(sizes), axes
    if roi is not None and np.asarray(roi).size:
        raise NeedsValues("Resize sizes known only at run time, with a roi")
    items = symbolic_ints(sizes)
    own_axes = list(range(rank(x))) if axes is None else normalize_axes(axes, rank(x))
    if items is None or len(items) != len(own_axes):
        raise NeedsValues("Resize scales/sizes known only at run time")
    resized = []
    for item, axis in zip(items, own_axes, strict=True):
        if not is_proxy(item):
            resized.append((axis, int(item)))
        elif not (
            item.node.op == "call_method" and item.node.target == "size" and item.node.args == (x.node, axis)
        ):
            raise NeedsValues("Resize scales/sizes known only at run time")
    return np.array([size for _, size in resized], np.int64), [axis for axis, _ in resized]


def _static(value):
    array = maybe_known(value)
    if value is not None and array is None:
        raise NeedsValues("Resize scales/sizes known only at run time")
    return array


@register("Resize", since=10)
def resize_10(x, scales, *, mode="nearest"):
    return _resize(
        x,
        None,
        _static(scales),
        None,
        mode=mode,
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )


@register("Resize", since=11)
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
):
    sizes, axes = _sizes_and_axes(x, sizes, None, _static(roi))
    return _resize(
        x,
        _static(roi),
        _static(scales),
        sizes,
        axes=axes,
        coordinate_transformation_mode=coordinate_transformation_mode,
        cubic_coeff_a=cubic_coeff_a,
        exclude_outside=exclude_outside,
        extrapolation_value=extrapolation_value,
        mode=mode,
        nearest_mode=nearest_mode,
    )


@register("Resize", since=18)
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
):
    sizes, axes = _sizes_and_axes(x, sizes, axes, _static(roi))
    return _resize(
        x,
        _static(roi),
        _static(scales),
        sizes,
        antialias=antialias,
        axes=axes,
        coordinate_transformation_mode=coordinate_transformation_mode,
        cubic_coeff_a=cubic_coeff_a,
        exclude_outside=exclude_outside,
        extrapolation_value=extrapolation_value,
        keep_aspect_ratio_policy=keep_aspect_ratio_policy,
        mode=mode,
        nearest_mode=nearest_mode,
    )


@register("Upsample", since=7)
def upsample_7(x, *, mode="nearest", scales):
    return _resize(
        x,
        None,
        np.asarray(scales),
        None,
        mode=mode,
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )


@register("Upsample", since=9)
def upsample(x, scales, *, mode="nearest"):
    return _resize(
        x,
        None,
        _static(scales),
        None,
        mode=mode,
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
