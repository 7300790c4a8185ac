"""Export notes: several notes (t5 records two fallbacks) stay one metadata entry the checker accepts."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from toolkit.api import NOTE_KEY, _tag, notes_of


def test_several_notes_are_one_entry_that_passes_the_checker():
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    _tag(model, NOTE_KEY, "dynamo cannot export a dynamic sequence length; the sequence length is fixed")
    _tag(model, NOTE_KEY, "the module returns 2 tensors, the exported graph 1: outputs named by position")
    _tag(model, "toolkit.exporter", "dynamo")
    _tag(model, "toolkit.exporter", "torchscript")
    assert [e.key for e in model.metadata_props].count(NOTE_KEY) == 1
    onnx.checker.check_model(model, full_check=True)
    assert notes_of(model) == [
        "dynamo cannot export a dynamic sequence length; the sequence length is fixed",
        "the module returns 2 tensors, the exported graph 1: outputs named by position",
    ]
    assert dict((e.key, e.value) for e in model.metadata_props)["toolkit.exporter"] == "torchscript"
