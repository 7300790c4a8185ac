"""Shapes on the traced path: partly-known sizes computed from shapes, and 0-d tensors staying 0-d.

The U-Net case is issue 10's: a torch model calling `F.interpolate(y, size=x.shape[-2:])`, exported
with the default dynamic batch, imported into TensorFlow, failed on its first call with "Resize needs
static sizes along the resized axes". Only the batch is dynamic; the core's shape tracking knows the
Resize sizes are (batch, channels, H, W).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from onnx import TensorProto, helper

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

import toolkit  # noqa: E402
from toolkit.importers import core  # noqa: E402
from toolkit.importers.tensorflow import operator_table  # noqa: E402


class UNetStyle(torch.nn.Module):
    """Down, up to the skip connection's own spatial size, add: the usual U-Net decoder step."""

    def __init__(self):
        super().__init__()
        self.down = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = torch.nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        y = torch.relu(self.down(x))
        y = torch.nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.up(y) + x


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    model = UNetStyle().eval()
    onnx_model = toolkit.convert(model, to="onnx", example_inputs=(torch.randn(2, 3, 16, 16),))
    return model, onnx_model


def test_unet_interpolate_to_skip_size_runs_traced_at_two_batch_sizes(unet):
    model, onnx_model = unet
    batch = onnx_model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.HasField("dim_value"), "the export should keep the batch dynamic"
    module = toolkit.convert(onnx_model, to="tensorflow")
    for size in (1, 3):
        x = np.random.default_rng(size).standard_normal((size, 3, 16, 16)).astype(np.float32)
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        got = module(x).numpy()  # the tf.function users call, traced with a None batch
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_unet_interpolate_saved_model_serves_two_batch_sizes(unet, tmp_path):
    model, onnx_model = unet
    toolkit.convert(onnx_model, to="tensorflow", output=tmp_path / "unet")
    serve = tf.saved_model.load(str(tmp_path / "unet")).signatures["serving_default"]
    (input_name,) = serve.structured_input_signature[1]
    for size in (2, 5):
        x = np.random.default_rng(size).standard_normal((size, 3, 16, 16)).astype(np.float32)
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        (got,) = serve(**{input_name: tf.constant(x)}).values()
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


def test_core_tracks_shape_elements_through_shape_slice_gather_concat():
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "two"], ["batch_channels"]),
        helper.make_node("Gather", ["shape", "three"], ["width"]),
        helper.make_node("Unsqueeze", ["width", "zero"], ["width_1d"]),
        helper.make_node("Mul", ["width_1d", "two"], ["double_width"]),
        helper.make_node("Concat", ["batch_channels", "double_width", "double_width"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest"),
    ]
    graph = helper.make_graph(
        nodes,
        "tracked",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 8, 8])],
        initializer=[
            helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
            helper.make_tensor("two", TensorProto.INT64, [1], [2]),
            helper.make_tensor("three", TensorProto.INT64, [], [3]),  # a scalar index: Gather gives 0-d
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    resize = next(s for s in core.prepare(model, operator_table()).graph.steps if s.node.op_type == "Resize")
    assert list(resize.context.inputs[3].elements) == ["batch", 2, 8, 8]
    module = toolkit.convert(model, to="tensorflow")
    x = np.arange(3 * 2 * 4 * 4, dtype=np.float32).reshape(3, 2, 4, 4)
    np.testing.assert_array_equal(module(x).numpy(), x.repeat(2, axis=2).repeat(2, axis=3))


def _module(nodes, inputs, outputs, opset=21, initializer=()):
    graph = helper.make_graph(nodes, "zero_d", inputs, outputs, initializer=list(initializer))
    return toolkit.convert(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), to="tf")


def _both_paths(module, *inputs):
    """The traced tf.function and the eager walk, as numpy."""
    for call in (module, module.call_eager):
        outputs = call(*inputs)
        yield [o.numpy() for o in (outputs if isinstance(outputs, tuple) else (outputs,))]


def test_scalar_bitcast_stays_0d():
    module = _module(
        [helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.FLOAT)],
        [helper.make_tensor_value_info("x", TensorProto.INT32, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        opset=26,
    )
    for (y,) in _both_paths(module, np.int32(0x3F800000)):
        assert y.shape == () and y == 1.0


def test_scan_over_scalars_keeps_0d_state_and_1d_scan_output():
    body = helper.make_graph(
        [
            helper.make_node("Add", ["total_in", "x_t"], ["total_out"]),
            helper.make_node("Identity", ["total_out"], ["running"]),
        ],
        "body",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, []) for n in ("total_in", "x_t")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, []) for n in ("total_out", "running")],
    )
    module = _module(
        [helper.make_node("Scan", ["start", "xs"], ["total", "partial_sums"], body=body, num_scan_inputs=1)],
        [
            helper.make_tensor_value_info("start", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("xs", TensorProto.FLOAT, [None]),
        ],
        [
            helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("partial_sums", TensorProto.FLOAT, [None]),
        ],
    )
    for total, partial_sums in _both_paths(module, np.float32(1), np.float32([1, 2, 3])):
        assert total.shape == () and total == 7
        np.testing.assert_array_equal(partial_sums, [2, 4, 7])


def test_range_through_loop_scan_output_is_1d():
    # Range's own function body: a Loop whose scan output collects one scalar per iteration.
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["keep_going"], ["keep_going_out"]),
            helper.make_node("Add", ["value", "delta"], ["next_value"]),
            helper.make_node("Identity", ["value"], ["element"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("keep_going", TensorProto.BOOL, []),
            helper.make_tensor_value_info("value", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("keep_going_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("next_value", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("element", TensorProto.FLOAT, []),
        ],
    )
    module = _module(
        [helper.make_node("Loop", ["count", "", "start"], ["last", "values"], body=body)],
        [
            helper.make_tensor_value_info("count", TensorProto.INT64, []),
            helper.make_tensor_value_info("start", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("delta", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("last", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("values", TensorProto.FLOAT, [None]),
        ],
    )
    for last, values in _both_paths(module, np.int64(2), np.float32(1), np.float32(0.5)):
        assert last.shape == () and last == 2.0
        assert values.shape == (2,)
        np.testing.assert_array_equal(values, [1.0, 1.5])


def test_reshape_to_a_target_computed_from_shapes_is_a_constant_reshape():
    """tf2onnx's einsum: Reshape(x, Concat(ReduceProd(Gather(Shape(x), [0, 1])), [-1])) with a dynamic
    batch, and a Reshape to [-1, ...] before it that shape inference gives a fresh batch symbol."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    from toolkit.importers.tensorflow import import_onnx

    constants = {
        "heads": np.array([-1, 4, 6], np.int64),
        "leading": np.array([0, 1], np.int64),
        "minus_one": np.array([-1], np.int64),
    }
    nodes = [
        helper.make_node("Reshape", ["x", "heads"], ["split"]),
        helper.make_node("Shape", ["split"], ["shape"]),
        helper.make_node("Gather", ["shape", "leading"], ["batch_and_heads"]),
        helper.make_node("ReduceProd", ["batch_and_heads"], ["rows"], keepdims=1),
        helper.make_node("Concat", ["rows", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["split", "target"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "computed_reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    module = import_onnx(model)
    traced = module.__call__.get_concrete_function().graph
    reshapes = [op for op in traced.get_operations() if op.type == "Reshape"]
    assert reshapes and all(op.inputs[1].op.type == "Const" for op in reshapes)
    for batch in (1, 3):
        x = np.arange(batch * 24, dtype=np.float32).reshape(batch, 24)
        (want,) = ReferenceEvaluator(model).run(None, {"x": x})
        np.testing.assert_array_equal(module(x).numpy(), want)
