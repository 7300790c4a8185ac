"""The TensorFlow importer keeps a convolution's output channels-last through a flatten and stores
the weight that reads it with its rows reordered (layout.py, semantics/flatten.py): same outputs as
onnx's reference, no activation transposed per call, and the parameter map still reads, writes and
trains the weight in the source layout. Gemm's transposed weights are stored [in, out]."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

tf = pytest.importorskip("tensorflow")

import toolkit  # noqa: E402
from toolkit.importers.tensorflow import import_onnx  # noqa: E402

RNG = np.random.default_rng(5)
ROWS = 40 * 8 * 8


def _conv_flatten_model(reader: str, flatten: str = "Reshape", shared_weight: bool = False):
    """x [N, 2, 10, 10] → Conv (40 channels, 3x3) → Relu → flatten [N, 2560] → MatMul / Gemm(transB).

    The dense weight is over 64 KiB, so `onnx_model` reads it back from the module (weights.py)."""
    w = (0.3 * RNG.standard_normal((40, 2, 3, 3))).astype(np.float32)
    dense = (0.05 * RNG.standard_normal((7, ROWS) if reader == "Gemm" else (ROWS, 7))).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["flat"])
        if flatten == "Reshape"
        else helper.make_node("Flatten", ["r"], ["flat"]),
    ]
    if reader == "Gemm":
        nodes.append(helper.make_node("Gemm", ["flat", "dense/kernel", "bias"], ["y"], transB=1))
    else:
        nodes.append(helper.make_node("MatMul", ["flat", "dense/kernel"], ["y"]))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if shared_weight:  # the weight also read elsewhere: it cannot be stored reordered
        nodes.append(helper.make_node("Identity", ["dense/kernel"], ["kernel_copy"]))
        outputs.append(helper.make_tensor_value_info("kernel_copy", TensorProto.FLOAT, None))
    initializers = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(dense, "dense/kernel"),
        numpy_helper.from_array(RNG.standard_normal(7).astype(np.float32), "bias"),
        numpy_helper.from_array(np.array([-1, ROWS], np.int64), "shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "flatten",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 10, 10])],
        outputs,
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), dense


def _activation_transposes(module):
    """Transposes of computed values (the NCHW graph input goes NHWC once, as it must)."""
    graph = module.__call__.get_concrete_function().graph
    return [
        op
        for op in graph.get_operations()
        if op.type == "Transpose" and op.inputs[0].op.type not in ("ReadVariableOp", "Const", "Placeholder")
    ]


def _outputs(module, x):
    y = module(x)
    return (y if isinstance(y, tuple) else (y,))[0].numpy()


@pytest.mark.parametrize("reader,flatten", [("MatMul", "Reshape"), ("Gemm", "Reshape"), ("Gemm", "Flatten")])
def test_flatten_after_conv_is_folded_and_matches_the_reference(reader, flatten):
    model, dense = _conv_flatten_model(reader, flatten)
    module = import_onnx(model)
    assert not _activation_transposes(module)
    for batch in (1, 3):
        x = RNG.standard_normal((batch, 2, 10, 10)).astype(np.float32)
        (want,) = ReferenceEvaluator(model).run(None, {"x": x})
        np.testing.assert_allclose(_outputs(module, x), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(module.call_eager(x).numpy(), want, rtol=1e-5, atol=1e-5)
    entry = toolkit.parameter_map(module)["dense/kernel"]
    np.testing.assert_array_equal(entry.read(), dense)  # the source layout, whatever the stored rows
    changed = (0.05 * RNG.standard_normal(dense.shape)).astype(np.float32)
    entry.assign(changed)
    np.testing.assert_array_equal(entry.read(), changed)
    rebuilt = {i.name: numpy_helper.to_array(i) for i in module.onnx_model.graph.initializer}
    np.testing.assert_array_equal(rebuilt["dense/kernel"], changed)
    x = RNG.standard_normal((2, 2, 10, 10)).astype(np.float32)
    (want,) = ReferenceEvaluator(module.onnx_model).run(None, {"x": x})
    np.testing.assert_allclose(_outputs(module, x), want, rtol=1e-5, atol=1e-5)


def test_gradient_in_the_source_layout_is_the_unfolded_gradient():
    model, dense = _conv_flatten_model("Gemm")
    folded = import_onnx(model)
    unfolded = import_onnx(_conv_flatten_model("Gemm", shared_weight=True)[0])  # same weights, RNG aside
    for module in (folded, unfolded):
        for name, entry in toolkit.parameter_map(module).items():
            entry.assign(toolkit.parameter_map(folded)[name].read())
    assert toolkit.parameter_map(unfolded)["dense/kernel"].split is None
    x = tf.constant(RNG.standard_normal((2, 2, 10, 10)).astype(np.float32))
    gradients = []
    for module in (folded, unfolded):
        entry = toolkit.parameter_map(module)["dense/kernel"]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(_first(module(x))))
        gradients.append(entry.to_source(tape.gradient(loss, entry.value).numpy()))
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-5, atol=1e-5)


def test_a_weight_read_elsewhere_stays_in_onnx_layout_and_still_matches():
    model, dense = _conv_flatten_model("MatMul", shared_weight=True)
    module = import_onnx(model)
    assert toolkit.parameter_map(module)["dense/kernel"].perm is None
    x = RNG.standard_normal((2, 2, 10, 10)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})
    got = module(x)
    for actual, expected in zip(got, want, strict=True):
        np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_gemm_weights_read_transposed_are_stored_in_and_out():
    model, dense = _conv_flatten_model("Gemm", shared_weight=False)
    module = import_onnx(model)
    graph = module.__call__.get_concrete_function().graph
    products = [op for op in graph.get_operations() if op.type == "MatMul"]
    assert products and not any(op.get_attr("transpose_b") for op in products)
    entry = toolkit.parameter_map(module)["dense/kernel"]
    assert tuple(entry.value.shape) == (ROWS, 7)  # [in, out], as a Keras Dense kernel


def _first(value):
    return value[0] if isinstance(value, tuple) else value
