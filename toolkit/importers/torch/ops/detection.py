"""Object-detection operators: NonMaxSuppression and RoiAlign."""

from __future__ import annotations

import math

import torch

from toolkit.importers.semantics import detection as rules
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, leaf, maybe_known


def _suppresses(boxes, center_point_box, iou_threshold):
    """[N, N] bool: box i suppresses box j (ONNX: IoU strictly above the threshold; boxes that do
    not overlap, and empty boxes, never suppress)."""
    x_min, y_min, x_max, y_max = rules.corners(boxes, center_point_box, torch.minimum, torch.maximum)
    width = torch.minimum(x_max[:, None], x_max[None, :]) - torch.maximum(x_min[:, None], x_min[None, :])
    height = torch.minimum(y_max[:, None], y_max[None, :]) - torch.maximum(y_min[:, None], y_min[None, :])
    intersection = width * height
    area = (x_max - x_min) * (y_max - y_min)
    union = area[:, None] + area[None, :] - intersection
    overlap = (width > 0) & (height > 0) & (area[:, None] > 0) & (area[None, :] > 0) & (union > 0)
    return overlap & (intersection / torch.where(union > 0, union, 1) > iou_threshold)


def _scalar(value, default):
    if value is None:
        return default
    array = maybe_known(value)
    if array is None:  # a fake tensor under torch.export: its value is not the default
        raise NeedsValues("NonMaxSuppression's limits are known only at run time")
    return default if array.size == 0 else array.reshape(-1)[0].item()


@leaf
def non_max_suppression_at_run_time(
    boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold, center_point_box
):
    """Greedy selection per batch and class; the number of boxes kept is data, so this runs eagerly."""
    limit = max(int(_scalar(max_output_boxes_per_class, rules.NMS_DEFAULTS["max_output_boxes_per_class"])), 0)
    threshold = _scalar(iou_threshold, rules.NMS_DEFAULTS["iou_threshold"])
    floor = _scalar(score_threshold, rules.NMS_DEFAULTS["score_threshold"])
    selected = []
    for batch in range(scores.shape[0] if limit else 0):
        suppresses = _suppresses(boxes[batch], center_point_box, threshold).tolist()
        for class_index in range(scores.shape[1]):
            class_scores = scores[batch, class_index]
            # best score first; among equal scores, the lower box index first
            order = torch.sort(class_scores, descending=True, stable=True).indices.tolist()
            if floor is not None:
                order = [i for i in order if class_scores[i].item() > floor]
            kept = []
            for candidate in order:
                if len(kept) == limit:
                    break
                if not any(suppresses[candidate][k] for k in kept):
                    kept.append(candidate)
                    selected.append((batch, class_index, candidate))
    return torch.tensor(selected, dtype=torch.int64).reshape(-1, 3)


@register("NonMaxSuppression", since=10, check=rules.nms_check)
def non_max_suppression(
    boxes,
    scores,
    max_output_boxes_per_class=None,
    iou_threshold=None,
    score_threshold=None,
    *,
    center_point_box=0,
):
    return non_max_suppression_at_run_time(
        boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold, center_point_box
    )


def _sample_axis(start, bin_size, pooled, grid, size):
    """Sample positions along one axis ([pooled * grid]) as (low, high, low weight, high weight),
    weights zero for samples outside [-1, size] (ONNX RoiAlign, as onnxruntime computes it)."""
    steps = torch.arange(pooled, dtype=torch.float64)[:, None] * bin_size
    inside_bin = (torch.arange(grid, dtype=torch.float64)[None, :] + 0.5) * bin_size / grid
    position = (start + steps + inside_bin).reshape(-1)
    valid = (position >= -1.0) & (position <= size)
    position = position.clamp(min=0)
    low = position.floor().to(torch.int64)
    at_edge = low >= size - 1
    low = torch.where(at_edge, size - 1, low)
    high = torch.where(at_edge, low, low + 1)
    position = torch.where(at_edge, low.to(torch.float64), position)
    fraction = position - low
    return low, high, (1 - fraction) * valid, fraction * valid


@leaf
def roi_align_at_run_time(
    x, rois, batch_indices, half_pixel, mode, output_height, output_width, sampling_ratio, spatial_scale
):
    """Each region's bins are averages (or maxima) of bilinear samples; the sampling grid can
    depend on the region's size, so this runs eagerly, one region at a time."""
    height, width = x.shape[2], x.shape[3]
    results = []
    for roi, batch in zip(rois.to(torch.float64).tolist(), batch_indices.tolist(), strict=True):
        (start_w, start_h), (bin_w, bin_h), (grid_w, grid_h) = rules.roi_bins(
            *roi,
            spatial_scale=spatial_scale,
            half_pixel=half_pixel,
            output_height=output_height,
            output_width=output_width,
            sampling_ratio=sampling_ratio,
            maximum=max,
            ceil=math.ceil,
        )
        y_low, y_high, hy, ly = _sample_axis(start_h, bin_h, output_height, grid_h, height)
        x_low, x_high, hx, lx = _sample_axis(start_w, bin_w, output_width, grid_w, width)
        image = x[int(batch)].to(torch.float64)
        terms = [
            (hy[:, None] * hx[None, :]) * image[:, y_low[:, None], x_low[None, :]],
            (hy[:, None] * lx[None, :]) * image[:, y_low[:, None], x_high[None, :]],
            (ly[:, None] * hx[None, :]) * image[:, y_high[:, None], x_low[None, :]],
            (ly[:, None] * lx[None, :]) * image[:, y_high[:, None], x_high[None, :]],
        ]
        shape = (image.shape[0], output_height, grid_h, output_width, grid_w)
        if mode == "avg":
            pooled = sum(terms).reshape(shape).sum(dim=(2, 4)) / max(grid_h * grid_w, 1)
        else:
            # onnxruntime's max mode: the largest weighted corner value of any sample
            pooled = torch.stack(terms).amax(dim=0).reshape(shape).amax(dim=(2, 4))
        results.append(pooled)
    if not results:
        return x.new_zeros((0, x.shape[1], output_height, output_width))
    return torch.stack(results).to(x.dtype)


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
    return roi_align_at_run_time(
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
    return roi_align_at_run_time(
        x, rois, batch_indices, half_pixel, mode, output_height, output_width, sampling_ratio, spatial_scale
    )
