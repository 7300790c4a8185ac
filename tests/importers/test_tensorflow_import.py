"""import_onnx end to end: signature, eager and graph mode, parameters, layout, errors, SavedModel."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

tf = pytest.importorskip("tensorflow")

from toolkit.errors import UnsupportedOperatorError  # noqa: E402
from toolkit.importers.tensorflow import (  # noqa: E402
    import_onnx,
    layout,  # noqa: E402
    save_saved_model,
)

RNG = np.random.default_rng(0)


def _cnn(opset=17):
    """NCHW conv → BN → relu → maxpool → conv (grouped, padded) → add → GAP → flatten → gemm."""
    w1 = numpy_helper.from_array(RNG.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(RNG.standard_normal(8).astype(np.float32), "b1")
    scale = numpy_helper.from_array(RNG.uniform(0.5, 1.5, 8).astype(np.float32), "scale")
    bias = numpy_helper.from_array(RNG.standard_normal(8).astype(np.float32), "bias")
    mean = numpy_helper.from_array(RNG.standard_normal(8).astype(np.float32), "mean")
    var = numpy_helper.from_array(RNG.uniform(0.5, 1.5, 8).astype(np.float32), "var")
    w2 = numpy_helper.from_array(RNG.standard_normal((8, 4, 3, 3)).astype(np.float32), "w2")
    fc = numpy_helper.from_array(RNG.standard_normal((5, 8)).astype(np.float32), "fc")
    channel = numpy_helper.from_array(RNG.standard_normal((8, 1, 1)).astype(np.float32), "channel")
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "scale", "bias", "mean", "var"], ["n1"], name="bn1"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", group=2, pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "channel"], ["a2"], name="add_channel"),
        helper.make_node("Add", ["a2", "p1"], ["s2"], name="residual"),
        helper.make_node("GlobalAveragePool", ["s2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])],
        [w1, b1, scale, bias, mean, var, w2, fc, channel],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _reference(model, *inputs):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(
        None, {i.name: v for i, v in zip(model.graph.input, inputs, strict=False)}
    )


def test_cnn_matches_the_reference_eagerly_and_traced_at_two_batch_sizes():
    model = _cnn()
    module = import_onnx(model)
    assert isinstance(module, tf.Module)
    spec = module.__call__.input_signature[0]
    assert spec.shape.as_list() == [None, 3, 16, 16]  # unknown dimensions stay None
    for batch in (1, 4):
        x = RNG.standard_normal((batch, 3, 16, 16)).astype(np.float32)
        (want,) = _reference(model, x)
        np.testing.assert_allclose(module(x).numpy(), want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(module.call_eager(x).numpy(), want, rtol=1e-4, atol=1e-4)


def test_layout_transposes_only_at_the_boundaries():
    module = import_onnx(_cnn())
    graph = module.__call__.get_concrete_function().graph
    transposes = [
        op
        for op in graph.get_operations()
        if op.type == "Transpose" and op.inputs[0].op.type not in ("ReadVariableOp", "Const")
    ]
    # Activations: NCHW input → NHWC once; GAP's [N,1,1,C] back to ONNX layout once before Flatten.
    # (A trainable [C,1,1] parameter added to a channels-last value is permuted per call: tiny.)
    assert len(transposes) <= 2, [op.name for op in transposes]
    convolutions = [op for op in graph.get_operations() if op.type.startswith("Conv2D")]
    assert convolutions and all(op.get_attr("data_format") == b"NHWC" for op in convolutions)


def test_float_initializers_are_trainable_variables_named_after_onnx():
    module = import_onnx(_cnn())
    names = {v.name.split("/")[-1].split(":")[0] for v in module.trainable_variables}
    assert {"w1", "b1", "fc"} <= names
    x = RNG.standard_normal((2, 3, 16, 16)).astype(np.float32)
    before = float(tf.reduce_sum(module(x) ** 2))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(module(x) ** 2)
    gradients = tape.gradient(loss, module.trainable_variables)
    assert all(g is not None for g in gradients)
    tf.keras.optimizers.SGD(1e-3).apply_gradients(zip(gradients, module.trainable_variables, strict=False))
    assert float(tf.reduce_sum(module(x) ** 2)) != before


def test_node_names_become_name_scopes():
    module = import_onnx(_cnn())
    graph = module.__call__.get_concrete_function().graph
    names = [op.name for op in graph.get_operations()]
    assert any("conv1/" in name for name in names) and any("residual/" in name for name in names)


def test_several_outputs_come_back_as_a_tuple():
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], axis=0, num_outputs=2)]
    graph = helper.make_graph(
        nodes,
        "split",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
    )
    module = import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    a, b = module(np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(a, [0, 1])
    np.testing.assert_array_equal(b, [2, 3])


def test_unsupported_operators_are_listed_before_any_work():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="fine"),
        helper.make_node("ImaginaryOp", ["a"], ["b"], name="first_bad"),
        helper.make_node("DeformConv", ["b", "b", "b"], ["c"], name="second_bad", kernel_shape=[2]),  # 1-D
        helper.make_node("Imputer", ["c"], ["y"], name="third_bad", domain="ai.onnx.ml"),  # not in the table
    ]
    graph = helper.make_graph(
        nodes,
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    opsets = [helper.make_opsetid("", 19), helper.make_opsetid("ai.onnx.ml", 3)]
    with pytest.raises(UnsupportedOperatorError) as raised:
        import_onnx(helper.make_model(graph, opset_imports=opsets))
    message = str(raised.value)
    assert "first_bad (ImaginaryOp, opset 19)" in message
    assert "second_bad" in message and "only 2-D DeformConv" in message and "third_bad" in message


def test_saved_model_serves_by_onnx_names_without_the_toolkit(tmp_path):
    model = _cnn()
    module = import_onnx(model)
    directory = tmp_path / "saved"
    save_saved_model(module, directory)
    x = RNG.standard_normal((3, 3, 16, 16)).astype(np.float32)
    (want,) = _reference(model, x)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "assert not any(m.startswith('toolkit') for m in sys.modules)\n"
        f"loaded = tf.saved_model.load({str(directory)!r})\n"
        "serve = loaded.signatures['serving_default']\n"
        f"out = serve(x=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, out['y'].numpy())\n"
    )
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
    subprocess.run([sys.executable, "-c", script], check=True, env=environment, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-4, atol=1e-4)


def test_transposed_tag_round_trips():
    value = tf.constant(RNG.standard_normal((2, 3, 4, 5)).astype(np.float32))
    tagged = layout.Transposed(
        tf.transpose(value, layout.channels_last_perm(4)), layout.channels_last_perm(4)
    )
    np.testing.assert_array_equal(layout.to_onnx(tagged), value)
