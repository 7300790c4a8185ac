"""NonMaxSuppression and RoiAlign handlers (torch/ops/detection.py), checked against onnx's reference
evaluator (onnxruntime for RoiAlign-10)."""

import numpy as np
import pytest
import torch

from tests.importers.test_torch_ops import _check
from tests.importers.torch_single_node import _check_onnxruntime, _constant, _model
from toolkit.importers.torch import import_onnx

rng = np.random.default_rng(1)

# ----------------------------------------------------------------------------- detection


def _boxes(batches, count):
    corners = rng.uniform(0, 10, (batches, count, 2)).astype(np.float32)
    sizes = rng.uniform(1, 4, (batches, count, 2)).astype(np.float32)
    return np.concatenate([corners, corners + sizes], axis=-1)


@pytest.mark.parametrize("center_point_box", [0, 1])
def test_non_max_suppression(center_point_box):
    boxes = _boxes(2, 20)
    scores = rng.uniform(0, 1, (2, 3, 20)).astype(np.float32)
    scores[0, 0, 3] = scores[0, 0, 7]  # equal scores: the lower box index goes first
    initializers = [
        _constant("limit", np.array([4], np.int64)),
        _constant("iou", np.array([0.2], np.float32)),
        _constant("floor", np.array([0.3], np.float32)),
    ]
    model = _model(
        "NonMaxSuppression",
        ["boxes", "scores", "limit", "iou", "floor"],
        {"boxes": boxes, "scores": scores},
        {"center_point_box": center_point_box},
        initializers,
        opset=11,
    )
    _check(model, {"boxes": boxes, "scores": scores})


def test_non_max_suppression_without_limit_selects_nothing():
    boxes, scores = _boxes(1, 5), rng.uniform(0, 1, (1, 1, 5)).astype(np.float32)
    model = _model("NonMaxSuppression", ["boxes", "scores"], {"boxes": boxes, "scores": scores}, opset=11)
    result = import_onnx(model)(torch.from_numpy(boxes), torch.from_numpy(scores))
    assert tuple(result.shape) == (0, 3)


@pytest.mark.parametrize(
    ("opset", "attributes"),
    [
        (16, {"output_height": 3, "output_width": 4, "spatial_scale": 0.5}),
        (16, {"mode": "max", "sampling_ratio": 2, "coordinate_transformation_mode": "output_half_pixel"}),
        (10, {"output_height": 2, "output_width": 2}),
    ],
)
def test_roi_align(opset, attributes):
    x = rng.standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois = np.array([[0, 0, 9, 9], [1.5, 2.5, 6, 8], [-2, 3, 14, 11], [4, 4, 4.5, 5]], np.float32)
    batch_indices = np.array([0, 1, 1, 0], np.int64)
    feeds = {"x": x, "rois": rois, "batch_indices": batch_indices}
    model = _model("RoiAlign", list(feeds), feeds, attributes, opset=opset)
    (_check_onnxruntime if opset < 16 else _check)(model, feeds, rtol=1e-5, atol=1e-5)
