"""Small graphs with the structures the zoo's models failed on, on the path users get: toolkit.convert
to TensorFlow, the traced tf.function at two batch sizes and a SavedModel reloaded, against onnxruntime.

- EmbeddingBag (torch.onnx): a Loop whose trip count only its condition decides, carrying a sequence
  that grows by one row per iteration, then ConcatFromSequence; a Slice whose starts have a run-time
  length; a counter state whose shape the graph does not declare.
- Keras InceptionV3 / NASNetMobile: AveragePool with pads and a dynamic batch (and, the root cause,
  spatial sizes known only at run time).
- A GRU whose initial_h has a static batch of 1 beside an X with a dynamic batch.
- Node, value and graph names in any unicode.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")

import toolkit  # noqa: E402
from toolkit.errors import ToolkitError  # noqa: E402

RNG = np.random.default_rng(10)


def _model(nodes, inputs, outputs, initializers=(), opset=17, name="graph"):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _check_traced_and_saved(model, feeds_for, tmp_path, batches=(1, 3)):
    """The traced module and the reloaded SavedModel match onnxruntime at each batch size."""
    session = ort.InferenceSession(model.SerializeToString())
    module = toolkit.convert(model, to="tensorflow")
    toolkit.convert(model, to="tensorflow", output=tmp_path / "saved")
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    output_names = [o.name for o in model.graph.output]
    for batch in batches:
        feeds = feeds_for(batch)
        want = session.run(None, feeds)
        got = module(*feeds.values())  # the tf.function, traced with the graph's None dimensions
        got = got if isinstance(got, tuple) else (got,)
        served = serve(**{name: tf.constant(value) for name, value in feeds.items()})
        for name, expected, traced in zip(output_names, want, got, strict=True):
            np.testing.assert_allclose(traced.numpy(), expected, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(served[name].numpy(), expected, rtol=1e-5, atol=1e-6)


def _embedding_bag_like():
    """Mean of each row of x, row by row in a Loop carrying a sequence (torch's EmbeddingBag export)."""
    ints = TensorProto.INT64
    body = helper.make_graph(
        [
            helper.make_node("Reshape", ["index", "minus_one"], ["position"]),
            helper.make_node("Slice", ["offsets", "position", "position_next"], ["start"]),
            helper.make_node("Add", ["start", "one_1d"], ["end"]),
            helper.make_node("Slice", ["x", "start", "end"], ["rows"]),  # starts of run-time length
            helper.make_node("ReduceMean", ["rows", "zero_1d"], ["row_mean"], keepdims=1),
            helper.make_node("SequenceInsert", ["bag_in", "row_mean"], ["bag_out"]),
            helper.make_node("Add", ["index", "one"], ["index_next"]),
            helper.make_node("Less", ["index_next", "count"], ["going_out"]),
        ],
        "loop_body",
        [
            helper.make_tensor_value_info("iteration", ints, []),
            helper.make_tensor_value_info("going_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("index", ints, None),  # shape undeclared, as torch writes it
            helper.make_tensor_sequence_value_info("bag_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("going_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("index_next", ints, None),
            helper.make_tensor_sequence_value_info("bag_out", TensorProto.FLOAT, None),
        ],
    )
    body.node.insert(1, helper.make_node("Add", ["position", "one_1d"], ["position_next"]))
    nodes = [
        helper.make_node("Shape", ["x"], ["batch_1d"], start=0, end=1),
        helper.make_node("Squeeze", ["batch_1d"], ["count"]),
        helper.make_node("Range", ["zero", "count", "one"], ["offsets"]),
        helper.make_node("SequenceEmpty", [], ["bag"], dtype=TensorProto.FLOAT),
        helper.make_node("Less", ["zero", "count"], ["going"]),
        helper.make_node("Loop", ["", "going", "zero", "bag"], ["last_index", "bags"], body=body),
        helper.make_node("ConcatFromSequence", ["bags"], ["means"], axis=0),
        helper.make_node("ConcatFromSequence", ["bags"], ["stacked"], axis=1, new_axis=1),
    ]
    constants = {
        "zero": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "minus_one": np.array([-1], np.int64),
        "one_1d": np.array([1], np.int64),
        "zero_1d": np.array([0], np.int64),
    }
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("means", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("stacked", TensorProto.FLOAT, [1, "batch", 4]),
        ],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
        opset=18,
    )


def test_loop_growing_a_sequence_runs_traced_and_as_saved_model(tmp_path):
    model = _embedding_bag_like()
    _check_traced_and_saved(
        model, lambda batch: {"x": RNG.standard_normal((batch, 4)).astype(np.float32)}, tmp_path
    )


def test_loop_state_that_grows_is_traced_with_a_free_shape(tmp_path):
    """The state's initial shape is its first invariant; a body that grows it builds the loop again."""
    floats = TensorProto.FLOAT
    body = helper.make_graph(
        [
            helper.make_node("Concat", ["state_in", "one_1d"], ["state_out"], axis=0),
            helper.make_node("Identity", ["going_in"], ["going_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
            helper.make_tensor_value_info("going_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_in", floats, None),
        ],
        [
            helper.make_tensor_value_info("going_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_out", floats, None),
        ],
    )
    constants = {"one_1d": np.array([1.0], np.float32), "start": np.array([5.0], np.float32)}
    model = _model(
        [
            helper.make_node("Loop", ["count", "", "start"], ["grown"], body=body),
            helper.make_node("Mul", ["grown", "start"], ["y"]),
        ],
        [helper.make_tensor_value_info("count", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", floats, ["length"])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    _check_traced_and_saved(model, lambda count: {"count": np.array(count, np.int64)}, tmp_path, (0, 3))


def _average_pool(shape, count_include_pad):
    return _model(
        [
            helper.make_node(
                "AveragePool",
                ["x"],
                ["y"],
                kernel_shape=[3, 3],
                pads=[1, 1, 1, 1],
                strides=[1, 1],
                count_include_pad=count_include_pad,
            )
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],  # kernel 3, pad 1: same size
    )


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize(
    "shape", [["batch", 3, 8, 8], ["batch", 3, "height", "width"]], ids=["dynamic_batch", "dynamic_sizes"]
)
def test_padded_average_pool_with_run_time_sizes_runs_traced(shape, count_include_pad, tmp_path):
    model = _average_pool(shape, count_include_pad)
    _check_traced_and_saved(
        model, lambda batch: {"x": RNG.standard_normal((batch, 3, 8, 8)).astype(np.float32)}, tmp_path
    )


def test_gru_with_a_static_batch_one_initial_state_runs_traced(tmp_path):
    hidden, features = 8, 4
    weights = {
        "W": RNG.standard_normal((1, 3 * hidden, features)).astype(np.float32),
        "R": RNG.standard_normal((1, 3 * hidden, hidden)).astype(np.float32),
        "initial_h": RNG.standard_normal((1, 1, hidden)).astype(np.float32),
    }
    model = _model(
        [helper.make_node("GRU", ["X", "W", "R", "", "", "initial_h"], ["Y", "Y_h"], hidden_size=hidden)],
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["sequence", "batch", features])],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["sequence", 1, "batch", hidden]),
            helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "batch", hidden]),
        ],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
        opset=14,
    )
    _check_traced_and_saved(
        model,
        lambda length: {"X": RNG.standard_normal((length + 2, 1, features)).astype(np.float32)},
        tmp_path,
    )


def _unicode_model():
    weight = numpy_helper.from_array(RNG.standard_normal((4, 3)).astype(np.float32), "权重.é")
    return _model(
        [
            helper.make_node("MatMul", ["输入", "权重.é"], ["中间"], name="矩阵乘/ü"),
            helper.make_node("Relu", ["中间"], ["输出 ✓"], name="激活"),
        ],
        [helper.make_tensor_value_info("输入", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("输出 ✓", TensorProto.FLOAT, ["batch", 3])],
        [weight],
        name="图",
    )


def test_unicode_names_import_traced_and_save(tmp_path):
    from toolkit.importers.tensorflow.builder import tf_name
    from toolkit.importers.tensorflow.saved_model import signature_key

    model = _unicode_model()
    module = toolkit.convert(model, to="tensorflow")
    assert [v.name for v in module.parameters] == ["u56fe/u6743_u91cd_e:0"]
    assert tf_name("café") == "cafe" and signature_key("输出 ✓") == "u8f93_u51fa_u2713"
    toolkit.convert(model, to="tensorflow", output=tmp_path / "saved")
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    (want,) = ort.InferenceSession(model.SerializeToString()).run(None, {"输入": x})
    np.testing.assert_allclose(module(x).numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(serve(u8f93_u5165=x)["u8f93_u51fa_u2713"].numpy(), want, rtol=1e-5, atol=1e-6)


def test_unicode_node_names_stay_readable_in_errors():
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("Reshape", ["输入", "形状"], ["输出"], name="重塑")],
            "图",
            [helper.make_tensor_value_info("输入", TensorProto.FLOAT, [2, 4])],
            [helper.make_tensor_value_info("输出", TensorProto.FLOAT, [3, 5])],
            [numpy_helper.from_array(np.array([3, 5], np.int64), "形状")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    module = toolkit.convert(model, to="tensorflow")
    with pytest.raises(ToolkitError) as caught:
        module(np.ones((2, 4), np.float32))
    # The message quotes the ONNX node; TF's own part names its scope, the name spelled in ASCII.
    assert str(caught.value).startswith('node "重塑" (Reshape, opset 17): ValueError: Cannot reshape')
    assert "u91cd_u5851/Reshape" in str(caught.value)
