"""One-node models for the torch handler tests, and onnxruntime as the oracle where onnx's reference
evaluator reads an older opset wrongly."""

import numpy as np
import torch
from onnx import TensorProto, helper, numpy_helper

from toolkit.importers.torch import import_onnx


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
