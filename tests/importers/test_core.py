"""The shared walker, exercised with a tiny numpy operator table (no framework needed)."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from toolkit.errors import UnsupportedOperatorError
from toolkit.importers import core

table = core.OperatorTable("numpy")


@table.register("Add", since=7)
def add(a, b):
    return a + b


@table.register("Reshape", since=5)
def reshape(data, shape, *, allowzero=0):
    return data.reshape([int(s) for s in shape])


@table.register("LeakyRelu", since=6)
def leaky_relu(x, *, alpha):
    return np.where(x >= 0, x, alpha * x)


@table.register("If", since=1)
def if_(condition, *, then_branch, else_branch):
    return tuple((then_branch if bool(condition) else else_branch)())


class NumpyBinder:
    def constant(self, array, name, trainable):
        return array


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _run(model, **feeds):
    prepared = core.prepare(model, table)
    return core.run_graph(prepared.graph, feeds, NumpyBinder())


def test_attribute_defaults_come_from_the_schema():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])
    model = _model([helper.make_node("LeakyRelu", ["x"], ["y"])], [x], [y])
    (out,) = _run(model, x=np.array([-1.0, 0.0, 2.0], np.float32))
    np.testing.assert_allclose(out, [-0.01, 0.0, 2.0], rtol=1e-6)  # LeakyRelu's spec default alpha=0.01


def test_constant_chain_is_folded_before_the_walk():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])
    shape = numpy_helper.from_array(np.array([3, 1], np.int64), "s")
    one = numpy_helper.from_array(np.array([0, 1], np.int64), "one")
    nodes = [
        helper.make_node("Add", ["s", "one"], ["shape"]),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    model = _model(nodes, [x], [y], [shape, one])
    prepared = core.prepare(model, table)
    assert [step.node.op_type for step in prepared.graph.steps] == ["Reshape"]  # Add was folded
    (out,) = core.run_graph(
        prepared.graph, {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}, NumpyBinder()
    )
    assert out.shape == (3, 2)


def test_every_unsupported_node_is_listed_at_once():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [
        helper.make_node("Sin", ["x"], ["a"], name="first"),
        helper.make_node("Cos", ["a"], ["b"], name="second"),
        helper.make_node("LeakyRelu", ["b"], ["y"], name="third", unknown_attribute=1),
    ]
    with pytest.raises(UnsupportedOperatorError) as raised:
        core.prepare(_model(nodes, [x], [y]), table)
    message = str(raised.value)
    assert "first (Sin, opset 17)" in message and "second (Cos, opset 17)" in message
    assert "third: attribute 'unknown_attribute' is not supported" in message
    assert len(raised.value.unsupported) == 3


def test_subgraph_reads_outer_scope_values():
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    then_out = helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])
    else_out = helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])
    then_branch = helper.make_graph([helper.make_node("Add", ["x", "x"], ["t"])], "then", [], [then_out])
    else_branch = helper.make_graph(
        [helper.make_node("LeakyRelu", ["x"], ["e"], alpha=0.5)], "else", [], [else_out]
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch)
    model = _model([node], [c, x], [y])
    values = np.array([-2.0, 3.0], np.float32)
    np.testing.assert_allclose(_run(model, c=np.array(True), x=values)[0], [-4.0, 6.0])
    np.testing.assert_allclose(_run(model, c=np.array(False), x=values)[0], [-1.0, 3.0])


def test_nodes_out_of_order_are_sorted():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Add", ["a", "a"], ["y"]), helper.make_node("Add", ["x", "x"], ["a"])]
    model = _model(nodes, [x], [y])
    np.testing.assert_allclose(_run(model, x=np.ones(2, np.float32))[0], [4.0, 4.0])


def test_newest_handler_not_newer_than_the_opset_wins():
    versions = core.OperatorTable("numpy")
    versions.register("Relu", since=6)(lambda x: "v6")
    versions.register("Relu", since=14)(lambda x: "v14")
    assert versions.lookup("", "Relu", 13).function(None) == "v6"
    assert versions.lookup("", "Relu", 14).function(None) == "v14"
    assert versions.lookup("", "Relu", 5) is None
