"""Attribute checks written once in importers/semantics/ reject the same nodes in both importers."""

import importlib

import pytest
from onnx import TensorProto, helper

from toolkit.errors import UnsupportedOperatorError


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_undefined_center_point_box_is_reported_before_any_work(framework):
    importer = importlib.import_module(f"toolkit.importers.{framework}")
    node = helper.make_node(
        "NonMaxSuppression", ["boxes", "scores"], ["selected"], name="nms", center_point_box=2
    )
    graph = helper.make_graph(
        [node],
        "nms",
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 3, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 3]),
        ],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, None)],
    )
    with pytest.raises(UnsupportedOperatorError, match="nms: NonMaxSuppression center_point_box=2"):
        importer.import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]))


def _single_node_model(op_type, inputs, opset, **attributes):
    node = helper.make_node(op_type, [name for name, _ in inputs], ["y"], name="node", **attributes)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


ROI_INPUTS = [("x", [1, 2, 8, 8]), ("rois", [3, 4]), ("batch", [3])]
# (op_type, inputs, opset, attributes, message): one check per op type in semantics/, used by both tables.
UNDEFINED_ATTRIBUTES = [
    ("RoiAlign", ROI_INPUTS, 16, {"mode": "median"}, "mode='median' is not one of avg, max"),
    ("RoiAlign", ROI_INPUTS, 16, {"coordinate_transformation_mode": "corners"}, "is not one of half_pixel"),
    ("Resize", [("x", [1, 1, 4, 4]), ("roi", [0]), ("scales", [4])], 13, {"mode": "area"}, "mode='area'"),
    (
        "Resize",
        [("x", [1, 1, 4, 4]), ("roi", [0]), ("scales", [4])],
        13,
        {"nearest_mode": "up"},
        "nearest_mode",
    ),
    (
        "AveragePool",
        [("x", [1, 1, 4, 4])],
        19,
        {"kernel_shape": [2, 2], "auto_pad": "SAME"},
        "auto_pad='SAME'",
    ),
    ("MaxPool", [("x", [1, 1, 4, 4])], 12, {"kernel_shape": [2, 2], "pads": [1, 1]}, "pads has 2 values"),
]


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
@pytest.mark.parametrize(("op_type", "inputs", "opset", "attributes", "message"), UNDEFINED_ATTRIBUTES)
def test_undefined_attribute_values_are_reported_by_both_importers(
    framework, op_type, inputs, opset, attributes, message
):
    importer = importlib.import_module(f"toolkit.importers.{framework}")
    model = _single_node_model(op_type, inputs, opset, **attributes)
    with pytest.raises(UnsupportedOperatorError, match=message.replace("(", r"\(")):
        importer.import_onnx(model)
