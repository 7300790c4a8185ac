"""GridSample, DFT/STFT, NonMaxSuppression, RoiAlign, MaxUnpool and Col2Im handlers, each checked
against onnx's reference evaluator."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from tests.importers.test_torch_ops import _check
from toolkit.errors import UnsupportedOperatorError
from toolkit.importers.torch import import_onnx

rng = np.random.default_rng(1)


def _model(op_type, input_names, feeds, attributes=None, initializers=(), opset=21, outputs=1):
    """One node; `input_names` may hold "" for an omitted optional input."""
    inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
        for n, v in feeds.items()
    ]
    outs = [helper.make_tensor_value_info(f"y{i}", TensorProto.UNDEFINED, None) for i in range(outputs)]
    node = helper.make_node(op_type, input_names, [o.name for o in outs], name="node", **(attributes or {}))
    graph = helper.make_graph([node], "g", inputs, outs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check_onnxruntime(model, feeds, rtol, atol):
    """onnxruntime as the oracle where onnx's reference evaluator reads an older opset wrongly
    (GridSample-16's mode names; RoiAlign-10, which has no half-pixel offset)."""
    import onnxruntime

    model.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT  # onnxruntime wants it typed
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, feeds)[0]
    result = import_onnx(model)(*[torch.from_numpy(v) for v in feeds.values()])
    np.testing.assert_allclose(result.numpy(), expected, rtol=rtol, atol=atol)


def _constant(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


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


# ----------------------------------------------------------------------------- DFT and STFT


def test_dft_17_onesided_real_with_length():
    x = rng.standard_normal((2, 9, 3, 1)).astype(np.float32)
    model = _model(
        "DFT", ["x", "n"], {"x": x}, {"onesided": 1, "axis": 1}, [_constant("n", np.int64(12))], opset=17
    )
    _check(model, {"x": x}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("parts", "inverse", "onesided", "axis", "length"),
    [(2, 1, 0, 1, None), (2, 0, 1, -2, 6), (2, 1, 1, 2, 8), (1, 0, 0, 2, None)],
)
def test_dft_20(parts, inverse, onesided, axis, length):
    x = rng.standard_normal((2, 5, 5, parts)).astype(np.float32)
    names, initializers = ["x", "", "axis"], [_constant("axis", np.int64(axis))]
    if length is not None:
        names[1] = "n"
        initializers.append(_constant("n", np.int64(length)))
    attributes = {"inverse": inverse, "onesided": onesided}
    model = _model("DFT", names, {"x": x}, attributes, initializers, opset=20)
    _check(model, {"x": x}, rtol=1e-4, atol=1e-5)


def test_dft_axis_computed_by_the_graph_runs_eagerly():
    x = rng.standard_normal((2, 4, 6, 1)).astype(np.float32)
    axis = np.array(2, np.int64)
    model = _model("DFT", ["x", "", "axis"], {"x": x, "axis": axis}, opset=20)
    _check(model, {"x": x, "axis": axis}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("with_window", "onesided"), [(True, 1), (False, 0)])
def test_stft(with_window, onesided):
    signal = rng.standard_normal((2, 64, 1)).astype(np.float32)
    step = _constant("step", np.int64(8))
    if with_window:
        window = np.hanning(16).astype(np.float32)
        names, initializers = ["signal", "step", "window"], [step, _constant("window", window)]
    else:
        names, initializers = ["signal", "step", "", "length"], [step, _constant("length", np.int64(16))]
    model = _model("STFT", names, {"signal": signal}, {"onesided": onesided}, initializers, opset=17)
    _check(model, {"signal": signal}, rtol=1e-4, atol=1e-4)


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


# ----------------------------------------------------------------------------- MaxUnpool, Col2Im


@pytest.mark.parametrize("output_shape", [None, [2, 3, 9, 10]])
def test_max_unpool_inverts_max_pool(output_shape):
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    pool = {"kernel_shape": [2, 3], "strides": [2, 3]}
    values, indices = ReferenceEvaluator(_model("MaxPool", ["x"], {"x": x}, pool, opset=12, outputs=2)).run(
        None, {"x": x}
    )
    feeds = {"values": values, "indices": indices}
    names, initializers = ["values", "indices"], []
    if output_shape is not None:
        names.append("shape")
        initializers.append(_constant("shape", np.array(output_shape, np.int64)))
    _check(_model("MaxUnpool", names, feeds, pool, initializers, opset=11), feeds)


@pytest.mark.parametrize(
    ("image", "block", "attributes"),
    [
        ([5, 6], [2, 3], {"strides": [1, 2], "pads": [1, 0, 1, 1], "dilations": [2, 1]}),
        ([4, 3, 5], [2, 1, 2], {}),
    ],
)
def test_col2im(image, block, attributes):
    count = len(image)
    strides = attributes.get("strides", [1] * count)
    dilations = attributes.get("dilations", [1] * count)
    pads = attributes.get("pads", [0] * 2 * count)
    blocks = [
        (image[d] + pads[d] + pads[count + d] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1
        for d in range(count)
    ]
    columns = rng.standard_normal((2, 3 * int(np.prod(block)), int(np.prod(blocks)))).astype(np.float32)
    initializers = [
        _constant("image", np.array(image, np.int64)),
        _constant("block", np.array(block, np.int64)),
    ]
    model = _model(
        "Col2Im", ["columns", "image", "block"], {"columns": columns}, attributes, initializers, opset=18
    )
    _check(model, {"columns": columns})
