"""NonMaxSuppression and RoiAlign: box formats, NMS's limits and thresholds, each region's bins.

The rules are written on whatever array type the caller holds (torch or TF tensors, or floats):
they use arithmetic, slicing and the `minimum`/`maximum`/`ceil` functions passed in, so one copy
serves both tables; the per-box loops and gathers stay with each framework.
"""

from __future__ import annotations

# ONNX NonMaxSuppression: optional inputs that are absent select nothing (max 0), suppress any
# overlap (IoU threshold 0) and filter no score.
NMS_DEFAULTS = {"max_output_boxes_per_class": 0, "iou_threshold": 0.0, "score_threshold": None}
ROI_ALIGN_MODES = ("avg", "max")
ROI_ALIGN_TRANSFORMATIONS = ("half_pixel", "output_half_pixel")


def nms_check(attributes, context) -> str:
    """NonMaxSuppression defines center_point_box 0 (corners) and 1 (centre, size) only."""
    value = attributes.get("center_point_box", 0)
    return "" if value in (0, 1) else f"NonMaxSuppression center_point_box={value} is not defined (0 or 1)"


def corners(boxes, center_point_box, minimum, maximum):
    """(x_min, y_min, x_max, y_max) of boxes [..., 4]: center_point_box=1 is [x_centre, y_centre,
    width, height]; 0 is [y1, x1, y2, x2] with either diagonal."""
    if center_point_box:
        half_width, half_height = boxes[..., 2] / 2, boxes[..., 3] / 2
        return (
            boxes[..., 0] - half_width,
            boxes[..., 1] - half_height,
            boxes[..., 0] + half_width,
            boxes[..., 1] + half_height,
        )
    return (
        minimum(boxes[..., 1], boxes[..., 3]),
        minimum(boxes[..., 0], boxes[..., 2]),
        maximum(boxes[..., 1], boxes[..., 3]),
        maximum(boxes[..., 0], boxes[..., 2]),
    )


def roi_align_check(attributes, context) -> str:
    """RoiAlign's mode (avg, max) and, from opset 16, coordinate_transformation_mode."""
    transformation = attributes.get("coordinate_transformation_mode", "output_half_pixel")
    if transformation not in ROI_ALIGN_TRANSFORMATIONS:
        return (
            f"coordinate_transformation_mode={transformation!r} is not one of half_pixel, output_half_pixel"
        )
    mode = attributes.get("mode", "avg")
    return "" if mode in ROI_ALIGN_MODES else f"mode={mode!r} is not one of avg, max"


def roi_bins(
    x1, y1, x2, y2, *, spatial_scale, half_pixel, output_height, output_width, sampling_ratio, maximum, ceil
):
    """Per region: its start (x, y) in input pixels, its bin size (w, h) and samples per bin (x, y).

    ONNX RoiAlign: coordinates scale by spatial_scale; half_pixel (opset 16's default) shifts them by
    -0.5, output_half_pixel (the opset 10 rule) does not and keeps a region at least one pixel wide.
    sampling_ratio samples per bin and axis, or ceil(region / output size) when 0. Samples sit at
    start + bin * size + (i + 0.5) * size / samples; one outside [-1, size] adds zero, and a
    coordinate is clamped at 0 and at size - 1 (onnxruntime's border rule).
    """
    offset = 0.5 if half_pixel else 0.0
    start = (x1 * spatial_scale - offset, y1 * spatial_scale - offset)
    width, height = (x2 - x1) * spatial_scale, (y2 - y1) * spatial_scale
    if not half_pixel:
        width, height = maximum(width, 1.0), maximum(height, 1.0)
    if sampling_ratio > 0:
        samples = (sampling_ratio, sampling_ratio)
    else:
        samples = (ceil(width / output_width), ceil(height / output_height))
    return start, (width / output_width, height / output_height), samples
