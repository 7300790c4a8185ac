"""The onnxruntime wrapper: providers and input validation before the run."""

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper

from toolkit.errors import InputError, UsageError
from toolkit.runtime import OnnxRuntimeModel, resolve_providers


@pytest.fixture(scope="module")
def relu_model():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["features"])],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 4])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 3, 4])],
    )
    return OnnxRuntimeModel(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), provider="cpu"
    )


def test_dynamic_batch_runs_and_calls_positionally(relu_model):
    for batch in (1, 7):
        x = np.random.default_rng(0).standard_normal((batch, 3, 4)).astype(np.float32)
        np.testing.assert_array_equal(relu_model(x), np.maximum(x, 0))


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"picture": np.zeros((1, 3, 4), np.float32)}, "missing input(s) image; unknown input(s) picture"),
        ({"image": np.zeros((1, 3, 4), np.float64)}, "dtype float64, the model expects float32"),
        ({"image": np.zeros((1, 3, 5), np.float32)}, "axis 2 must be 4"),
        ({"image": np.zeros((3, 4), np.float32)}, "(rank 3)"),
    ],
)
def test_bad_inputs_are_named_before_the_run(relu_model, feeds, message):
    with pytest.raises(InputError) as raised:
        relu_model.run(feeds)
    assert message in str(raised.value)


def test_auto_ends_with_cpu_and_absent_providers_are_usage_errors():
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider"
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(UsageError, match="toolkit\\[gpu\\]"):
            resolve_providers("cuda")
    with pytest.raises(UsageError, match="unknown provider"):
        resolve_providers("tpu")


@pytest.mark.gpu
def test_cuda_provider_runs_the_model():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = OnnxRuntimeModel(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), provider="cuda"
    )
    assert model.providers[0] == "CUDAExecutionProvider"
    np.testing.assert_array_equal(model(np.float32([-1, 2])), [0, 2])
