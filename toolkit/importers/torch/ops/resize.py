"""Resize (every mode, coordinate transformation, nearest mode, antialias, roi, axes) and Upsample.

The plan of `semantics/resize.py` (resized axes, their sizes and scales, each axis's gather indices
or interpolation matrix) becomes one index_select or matmul per axis; the spatial-only cases where
F.interpolate computes exactly what ONNX says use it instead (same numbers, faster).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from toolkit.importers.common import normalize_axes
from toolkit.importers.semantics import resize as rules
from toolkit.importers.torch.ops.symbolic import symbolic_ints
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, dims, dtype_of, is_proxy, maybe_known, rank


def _resize(x, roi, scales, sizes, **attributes):
    how = rules.Interpolation(**attributes)
    resampling = rules.resample(dims(x), roi, scales, sizes, how)
    if resampling is None:
        raise NeedsValues("resized dimension varies between calls")
    if not resampling:
        return x
    fast = _interpolate(x, [weights.axis for weights in resampling], how)
    if fast is not None:
        return fast
    floating = dtype_of(x).is_floating_point
    dtype = dtype_of(x) if floating or how.mode == "nearest" else torch.float64
    y, outside_any = x.to(dtype), None
    for weights in resampling:
        axis = weights.axis.axis
        if weights.indices is not None:
            y = torch.index_select(y, axis, torch.from_numpy(weights.indices))
        else:
            matrix = torch.from_numpy(weights.matrix.T).to(dtype)
            y = torch.movedim(torch.matmul(torch.movedim(y, axis, -1), matrix), -1, axis)
        if weights.outside is not None:
            shape = [1] * len(dims(x))
            shape[axis] = -1
            mask = torch.from_numpy(weights.outside).reshape(shape)
            outside_any = mask if outside_any is None else outside_any | mask
    if outside_any is not None:
        y = torch.where(outside_any, torch.tensor(how.extrapolation_value).to(dtype), y)
    if dtype != dtype_of(x):
        y = torch.round(y).to(dtype_of(x))
    return y


def _interpolate(x, plan, how):
    """F.interpolate for the spatial-only cases where it computes exactly what ONNX says."""
    r = len(dims(x))
    if how.antialias or how.exclude_outside or not dtype_of(x).is_floating_point:
        return None
    if any(axis.axis < 2 for axis in plan) or r not in (3, 4, 5) or len(plan) != r - 2:
        return None
    if not all(math.isclose(axis.scale, axis.output_size / axis.input_size) for axis in plan):
        return None  # the spec's coordinates use the scale, F.interpolate's the sizes
    sizes, transform = [axis.output_size for axis in plan], how.coordinate_transformation_mode
    if how.mode == "nearest" and transform == "asymmetric" and how.nearest_mode == "floor":
        if all(float(axis.scale).is_integer() for axis in plan):
            return F.interpolate(x, size=sizes, mode="nearest")
    if how.mode in ("linear", "cubic"):
        torch_mode = {3: "linear", 4: "bilinear", 5: "trilinear"}[r] if how.mode == "linear" else "bicubic"
        if how.mode == "cubic" and (r != 4 or how.cubic_coeff_a != -0.75):
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


@register("Resize", since=10, check=rules.check)
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


@register("Resize", since=11, check=rules.check)
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


@register("Resize", since=18, check=rules.check)
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


@register("Upsample", since=7, check=rules.check)
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


@register("Upsample", since=9, check=rules.check)
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
