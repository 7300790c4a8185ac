"""The torch importer folds a channels-last flatten (Transpose → Reshape [N, rows] → MatMul) into
the MatMul weight's rows: same outputs, no permute left, and the parameter map still reads, writes
and trains the weight in the source layout."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import toolkit
from toolkit.importers.torch import import_onnx

RNG = np.random.default_rng(3)


def _flatten_model(perm, shape):
    """x [N, 3, 4, 5] → Transpose(perm) → Reshape(shape) → MatMul(w [60 or 12, 6])."""
    rows = shape[1]
    w = RNG.standard_normal((rows, 6)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["x"], ["t"], perm=list(perm)),
            helper.make_node("Reshape", ["t", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "dense/kernel"], ["y"]),
        ],
        "flatten",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(w, "dense/kernel"),
            numpy_helper.from_array(np.array(shape, np.int64), "shape"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), w


def _permutes(module):
    return [n for n in module.graph.nodes if n.op == "call_method" and n.target == "permute"]


@pytest.mark.parametrize("perm", [(0, 2, 3, 1), (0, 3, 1, 2), (0, 1, 3, 2)])
def test_batch_keeping_flatten_is_folded_and_matches_the_reference(perm):
    model, w = _flatten_model(perm, [-1, 60])
    module = import_onnx(model)
    assert not _permutes(module)
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), want, rtol=1e-5, atol=1e-5)
    entry = toolkit.parameter_map(module)["dense/kernel"]
    np.testing.assert_array_equal(entry.read(), w)  # the source layout, whatever the stored rows
    changed = RNG.standard_normal(w.shape).astype(np.float32)
    entry.assign(changed)
    np.testing.assert_array_equal(entry.read(), changed)
    (want,) = ReferenceEvaluator(_with_weight(model, changed)).run(None, {"x": x})
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), want, rtol=1e-5, atol=1e-5)


def test_gradient_in_the_source_layout_is_the_unfolded_gradient():
    model, w = _flatten_model((0, 2, 3, 1), [-1, 60])
    module = import_onnx(model)
    x = torch.from_numpy(RNG.standard_normal((2, 3, 4, 5)).astype(np.float32))
    module(x).square().sum().backward()
    entry = toolkit.parameter_map(module)["dense/kernel"]
    reference = torch.from_numpy(w.copy()).requires_grad_()
    (x.permute(0, 2, 3, 1).reshape(2, 60) @ reference).square().sum().backward()
    np.testing.assert_allclose(entry.to_source(entry.value.grad.numpy()), reference.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    "perm,shape",
    [((1, 0, 2, 3), [-1, 60]), ((0, 2, 3, 1), [-1, 12])],
    ids=["batch_axis_moved", "not_a_flatten"],
)
def test_other_transposes_stay(perm, shape):
    model, _ = _flatten_model(perm, shape)
    module = import_onnx(model)
    assert _permutes(module)
    assert toolkit.parameter_map(module)["dense/kernel"].perm is None


def _with_weight(model, array):
    copy = model.__class__()
    copy.CopyFrom(model)
    for index, initializer in enumerate(copy.graph.initializer):
        if initializer.name == "dense/kernel":
            copy.graph.initializer[index].CopyFrom(numpy_helper.from_array(array, "dense/kernel"))
    return copy
