"""Pow by a constant scalar exponent runs with a Python number (torch's fast path): same values, the
same gradient with respect to the base; an exponent that would broadcast the base stays a tensor."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from toolkit.importers.torch import import_onnx


def _pow_model(base_shape, exponent):
    graph = helper.make_graph(
        [helper.make_node("Pow", ["x", "e"], ["y"])],
        "pow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, base_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(exponent, np.float32), "e")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _exponents(module):
    return [node.args[1] for node in module.graph.find_nodes(op="call_function", target=torch.pow)]


@pytest.mark.parametrize("exponent", [2.0, [3.0], 0.5], ids=["square", "one_element", "root"])
def test_constant_exponent_is_a_number_with_the_same_values_and_gradient(exponent):
    model = _pow_model([2, 3], exponent)
    module = import_onnx(model)
    assert all(isinstance(e, float) for e in _exponents(module))
    x = np.random.default_rng(0).uniform(0.5, 2.0, (2, 3)).astype(np.float32)
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    tensor = torch.from_numpy(x).requires_grad_()
    got = module(tensor)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-6)
    got.sum().backward()
    power = float(np.asarray(exponent).reshape(()))
    np.testing.assert_allclose(tensor.grad.numpy(), power * x ** (power - 1), rtol=1e-5)


def test_an_exponent_that_broadcasts_a_scalar_base_stays():
    model = _pow_model([], [2.0])  # rank-0 base, [1] exponent: the result is [1]
    module = import_onnx(model)
    assert not any(isinstance(e, float) for e in _exponents(module))
    with torch.no_grad():
        assert tuple(module(torch.tensor(3.0)).shape) == (1,)
