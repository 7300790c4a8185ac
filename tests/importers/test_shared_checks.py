"""Attribute checks written once in importers/common.py reject the same nodes in both importers."""

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
