"""Quantization's rules written once (importers/semantics/quantization.py), checked on both importers.

The rules as plain Python, then the same per-axis, blocked and per-row quantized models through the
torch and TensorFlow importers against onnx's reference evaluator; a scale that does not fit x is
refused by both, up front, with one message.
"""

import os

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from toolkit.errors import UnsupportedOperatorError  # noqa: E402
from toolkit.importers import tensorflow as tf_importer  # noqa: E402
from toolkit.importers import torch as torch_importer  # noqa: E402
from toolkit.importers.semantics import quantization  # noqa: E402


def test_parameter_layouts_follow_the_spec():
    assert quantization.parameter_layout(0, None, 4, 1, 0).kind == "tensor"
    assert quantization.parameter_layout(1, 1, 4, 1, 0) == quantization.ParameterLayout("tensor", shape=())
    assert quantization.parameter_layout(1, 3, 4, -3, 0) == quantization.ParameterLayout(
        "axis", axis=1, shape=(1, -1, 1, 1)
    )
    assert quantization.parameter_layout(2, None, 2, 1, 2) == quantization.ParameterLayout(
        "block", axis=1, block_size=2
    )


def test_element_types_and_ranges():
    assert quantization.quantized_element_type(0, 0) == TensorProto.UINT8
    assert quantization.quantized_element_type(0, TensorProto.INT8) == TensorProto.INT8
    assert quantization.quantized_element_type(TensorProto.INT4, TensorProto.INT4) == TensorProto.INT4
    assert quantization.saturation_range(TensorProto.INT4) == (-8.0, 7.0)
    assert quantization.saturation_range(TensorProto.FLOAT4E2M1) == (-6.0, 6.0)
    assert quantization.per_row_shape(1, 3) == (-1, 1)
    assert quantization.per_row_shape(0, None) is None
    assert quantization.per_channel_shape(1, 4, 4) == (-1, 1, 1, 1)


def _run_both(model, feeds):
    got_torch = torch_importer.import_onnx(model)(*[torch.from_numpy(f) for f in feeds])
    got_tf = tf_importer.import_onnx(model)(*feeds)
    return np.asarray(got_torch.detach().numpy()), np.asarray(got_tf)


def _model(nodes, inputs, output, initializers, opset=21):
    graph = helper.make_graph(nodes, "g", inputs, [output], initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize(
    "scale_shape,attributes",
    [((), {}), ((3,), {"axis": 1}), ((2, 2), {"axis": 1, "block_size": 2})],
    ids=["per-tensor", "per-axis", "blocked"],
)
def test_quantize_then_dequantize_match_the_reference(scale_shape, attributes):
    rng = np.random.default_rng(5)
    shape = (2, 3) if scale_shape != (2, 2) else (2, 4)
    x = (rng.standard_normal(shape) * 40).astype(np.float32)
    scale = (rng.random(scale_shape) + 0.5).astype(np.float32)
    zero_point = rng.integers(-5, 5, scale_shape).astype(np.int8)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], **attributes),
        helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["y"], **attributes),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        helper.make_tensor_value_info("y", TensorProto.FLOAT, shape),
        [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(zero_point, "zero")],
    )
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    for got in _run_both(model, [x]):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_qlinear_matmul_per_row_scales_match_the_reference():
    rng = np.random.default_rng(9)
    a = rng.integers(0, 255, (3, 4)).astype(np.uint8)
    b = rng.integers(0, 255, (4, 2)).astype(np.uint8)
    constants = {
        "a_scale": np.array([0.02, 0.05, 0.03], np.float32),  # one per row of a
        "a_zero": np.array([110, 120, 130], np.uint8),
        "b_scale": np.float32(0.04),
        "b_zero": np.uint8(128),
        "y_scale": np.float32(0.5),
        "y_zero": np.uint8(100),
    }
    node = helper.make_node(
        "QLinearMatMul", ["a", "a_scale", "a_zero", "b", "b_scale", "b_zero", "y_scale", "y_zero"], ["y"]
    )
    model = _model(
        [node],
        [
            helper.make_tensor_value_info("a", TensorProto.UINT8, a.shape),
            helper.make_tensor_value_info("b", TensorProto.UINT8, b.shape),
        ],
        helper.make_tensor_value_info("y", TensorProto.UINT8, (3, 2)),
        [numpy_helper.from_array(np.asarray(v), k) for k, v in constants.items()],
    )
    # The reference broadcasts a 1-D a_scale against y's columns; the spec says one per row of a.
    a_real = (a.astype(np.int32) - constants["a_zero"][:, None]) * constants["a_scale"][:, None]
    b_real = (b.astype(np.int32) - 128) * constants["b_scale"]
    expected = np.clip(np.rint(a_real @ b_real / 0.5) + 100, 0, 255).astype(np.uint8)
    for got in _run_both(model, [a, b]):
        assert np.abs(got.astype(np.int32) - expected.astype(np.int32)).max() <= 1


def test_a_scale_that_does_not_fit_x_is_refused_by_both():
    node = helper.make_node("QuantizeLinear", ["x", "scale"], ["y"], axis=1)
    model = _model(
        [node],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, (2, 3))],
        helper.make_tensor_value_info("y", TensorProto.UINT8, (2, 3)),
        [numpy_helper.from_array(np.ones(4, np.float32), "scale")],
    )
    for importer in (torch_importer, tf_importer):
        with pytest.raises(UnsupportedOperatorError, match="per-axis scale of 4 elements for 3"):
            importer.import_onnx(model)
