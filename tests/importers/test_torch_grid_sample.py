"""GridSample handlers (torch/ops/grid_sample.py), checked against onnx's reference evaluator."""

import numpy as np
import pytest

from tests.importers.test_torch_ops import _check
from tests.importers.torch_single_node import _check_onnxruntime, _model
from toolkit.errors import UnsupportedOperatorError
from toolkit.importers.torch import import_onnx

rng = np.random.default_rng(1)

# ----------------------------------------------------------------------------- GridSample


@pytest.mark.parametrize(
    ("opset", "mode", "padding_mode", "align_corners", "spatial"),
    [
        (16, "bilinear", "zeros", 0, (5, 6)),
        (16, "bicubic", "border", 1, (5, 6)),
        (16, "nearest", "reflection", 0, (5, 6)),
        (20, "cubic", "reflection", 0, (4, 7)),
        (20, "linear", "border", 1, (3, 4, 5)),
        (20, "nearest", "zeros", 0, (3, 4, 5)),
    ],
)
def test_grid_sample(opset, mode, padding_mode, align_corners, spatial):
    x = rng.standard_normal((2, 3, *spatial)).astype(np.float32)
    grid = rng.uniform(-1.3, 1.3, (2, *[s + 1 for s in spatial], len(spatial))).astype(np.float32)
    attributes = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    model = _model("GridSample", ["x", "grid"], {"x": x, "grid": grid}, attributes, opset=opset)
    (_check_onnxruntime if opset < 20 else _check)(model, {"x": x, "grid": grid}, rtol=1e-4, atol=1e-5)


def test_grid_sample_cubic_volume_is_reported_not_miscomputed():
    x = np.zeros((1, 1, 2, 2, 2), np.float32)
    grid = np.zeros((1, 2, 2, 2, 3), np.float32)
    model = _model("GridSample", ["x", "grid"], {"x": x, "grid": grid}, {"mode": "cubic"}, opset=20)
    with pytest.raises(UnsupportedOperatorError, match="tricubic"):
        import_onnx(model)
