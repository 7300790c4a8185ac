"""The torch importer folds MatMul by a weight + Add of a bias into one F.linear: same outputs, the
same gradients reach the same parameter names, and a bias that is not one per output column stays
an Add."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from onnx import TensorProto, helper, numpy_helper

import toolkit
from toolkit.importers.torch import import_onnx


def _linears(module):
    return module.graph.find_nodes(op="call_function", target=F.linear)


def _matmuls(module):
    return module.graph.find_nodes(op="call_function", target=torch.matmul)


@pytest.mark.parametrize("trainable", [False, True], ids=["inference_export", "trainable_export"])
def test_linear_layers_fold_with_the_same_outputs_and_gradients(trainable):
    torch.manual_seed(1)
    native = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.GELU(), torch.nn.Linear(8, 3)).eval()
    x = torch.randn(4, 5, 6)
    onnx_model = toolkit.convert(native, to="onnx", example_inputs=(x,), trainable=trainable)
    imported = toolkit.convert(onnx_model, to="torch")
    assert len(_linears(imported)) == 2 and not _matmuls(imported)
    with torch.no_grad():
        np.testing.assert_allclose(imported(x).numpy(), native(x).numpy(), rtol=1e-5, atol=1e-6)
    native(x).square().sum().backward()
    imported(x).square().sum().backward()
    mapping = toolkit.parameter_map(imported)
    if trainable:  # the source's names and layouts
        assert {name for name, _ in native.named_parameters()} <= set(mapping)
        for name, parameter in native.named_parameters():
            entry = mapping[name]
            assert entry.read().shape == tuple(parameter.shape)
            np.testing.assert_allclose(
                entry.to_source(entry.value.grad.numpy()), parameter.grad.numpy(), rtol=1e-4, atol=1e-6
            )
    else:  # every parameter still reached by its gradient
        assert all(entry.value.grad is not None for entry in mapping.values() if entry.value.dim())


def test_a_bias_broadcast_along_rows_stays_an_add():
    w = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    b = np.random.default_rng(3).standard_normal((2, 1)).astype(np.float32)  # per row, not per column
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
        "rows",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    module = import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert not _linears(module) and _matmuls(module)
    x = np.random.default_rng(4).standard_normal((2, 4)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), x @ w + b, rtol=1e-5)
