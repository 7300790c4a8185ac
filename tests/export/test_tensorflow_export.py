"""Keras / TensorFlow reference models through tf2onnx, checked and run in onnxruntime against Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import load_reference, references
from toolkit.errors import UsageError
from toolkit.export import ExportResult, check_exported, export_tensorflow
from toolkit.runtime import OnnxRuntimeModel

BATCH_SIZES = (2, 5)
CALL_OPS = {"StatefulPartitionedCall", "PartitionedCall"}


def run_keras(keras_model, arrays):
    return np.asarray(keras_model(arrays[0] if len(arrays) == 1 else list(arrays), training=False))


@pytest.fixture(scope="module", params=references("keras"))
def exported(request):
    reference = load_reference(request.param)
    keras_model = reference.build()
    result = export_tensorflow(keras_model)
    return reference, keras_model, result, OnnxRuntimeModel(result.model, provider="cpu")


def test_reference_model_exports_with_tf2onnx(exported):
    reference, keras_model, result, ort_model = exported
    assert isinstance(result, ExportResult)
    assert result.exporter == "tf2onnx"
    assert result.opset == 17
    assert ort_model.input_names == list(reference.INPUT_NAMES)
    assert ort_model.output_names == list(keras_model.output_names)
    assert all(spec.dynamic_axes == [0] for spec in ort_model.inputs)
    assert not CALL_OPS & {node.op_type for node in result.model.graph.node}
    check_exported(result.model, "reference")


@pytest.mark.parametrize("batch", BATCH_SIZES)
def test_reference_model_matches_keras(exported, batch, at_batch, assert_close):
    reference, keras_model, _, ort_model = exported
    inputs = at_batch(reference.example_inputs(), batch)
    assert_close(ort_model(*inputs), run_keras(keras_model, inputs))


def normalised_cnn():
    """Normalization and BatchNormalization constants: frozen into initializers, never graph inputs."""
    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.04, 0.05, 0.06])(image)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(image, keras.layers.Dense(3, name="scores")(x))
    batch_norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    batch_norm.moving_mean.assign(np.array([0.1, -0.2, 0.3], np.float32))
    batch_norm.moving_variance.assign(np.array([0.5, 1.5, 2.0], np.float32))
    return model


def test_constants_are_frozen_and_calls_inlined(at_batch, assert_close):
    keras_model = normalised_cnn()
    result = export_tensorflow(keras_model)
    graph = result.model.graph
    assert [graph_input.name for graph_input in graph.input] == ["image"]
    assert [graph_output.name for graph_output in graph.output] == ["scores"]
    assert not CALL_OPS & {node.op_type for node in graph.node}
    example = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    for batch in BATCH_SIZES:
        inputs = at_batch((example,), batch)
        assert_close(ort_model(*inputs), run_keras(keras_model, inputs))


@pytest.mark.slow
def test_efficientnet_has_only_the_image_input(assert_close):
    keras.utils.set_random_seed(0)
    keras_model = keras.applications.EfficientNetB0(
        input_shape=(64, 64, 3), weights=None, classes=10, classifier_activation=None
    )
    result = export_tensorflow(keras_model)
    graph = result.model.graph
    assert [graph_input.name for graph_input in graph.input] == [keras_model.layers[0].name]
    assert not CALL_OPS & {node.op_type for node in graph.node}
    image = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    assert_close(OnnxRuntimeModel(result.model, provider="cpu")(image), run_keras(keras_model, (image,)))


@pytest.fixture(scope="module")
def separable():
    reference = load_reference("keras_separable_cnn")
    return reference, reference.build()


def test_saved_model_directory_uses_serving_signature(separable, tmp_path, at_batch, assert_close):
    reference, keras_model = separable
    keras_model.export(tmp_path / "saved", verbose=False)
    result = export_tensorflow(tmp_path / "saved")
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    assert ort_model.input_names == ["image"]
    for batch in BATCH_SIZES:
        inputs = at_batch(reference.example_inputs(), batch)
        assert_close(ort_model(*inputs), run_keras(keras_model, inputs))


class Affine(tf.Module):
    def __init__(self):
        super().__init__()
        self.weight = tf.Variable(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="features")])
    def __call__(self, features):
        return {"scores": tf.matmul(features, self.weight) + 1.0}


def test_tf_module_and_its_saved_signature(tmp_path, assert_close):
    module = Affine()
    features = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    expected = module(features)["scores"].numpy()
    for source in (module, "saved"):
        if source == "saved":
            tf.saved_model.save(module, str(tmp_path / "affine"), signatures=module.__call__)
            source = tf.saved_model.load(str(tmp_path / "affine"))
        result = export_tensorflow(source)
        ort_model = OnnxRuntimeModel(result.model, provider="cpu")
        assert (ort_model.input_names, ort_model.output_names) == (["features"], ["scores"])
        assert [initializer.name for initializer in result.model.graph.initializer]  # weight frozen in
        assert_close(ort_model(features), expected)


def test_plain_tf_function_with_example_inputs(assert_close):
    @tf.function
    def scale(x, y):
        return x * 2.0 + y

    x, y = np.ones((2, 4), np.float32), np.arange(8, dtype=np.float32).reshape(2, 4)
    result = export_tensorflow(scale, example_inputs=(x, y))
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    assert ort_model.input_names == ["input_0", "input_1"] and ort_model.output_names == ["output_0"]
    assert_close(ort_model(np.tile(x, (3, 1)), np.tile(y, (3, 1))), np.tile(x * 2 + y, (3, 1)))


def test_static_batch_and_opset_limit(separable):
    _, keras_model = separable
    result = export_tensorflow(keras_model, dynamic_batch=False, opset=13)
    assert result.opset == 13
    assert OnnxRuntimeModel(result.model, provider="cpu").inputs[0].shape == (1, 32, 32, 3)
    with pytest.raises(UsageError, match="opset"):
        export_tensorflow(keras_model, opset=21)


def test_multi_input_keras_model_keeps_input_layer_names(assert_close):
    keras.utils.set_random_seed(0)
    unnamed, named = keras.Input((3,)), keras.Input((3,), name="second")
    keras_model = keras.Model([unnamed, named], keras.layers.Dense(2, name="mixed")(unnamed * named))
    ort_model = OnnxRuntimeModel(export_tensorflow(keras_model).model, provider="cpu")
    assert ort_model.input_names == [keras_model.layers[0].name, "second"]
    assert ort_model.output_names == ["mixed"]
    left, right = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    assert_close(ort_model(left, right), run_keras(keras_model, (left, right)))


def test_xla_compiled_grouped_convolution_and_exact_gelu_are_inlined():
    """Keras 3 runs grouped convolutions through tf.function(jit_compile=True), which grappler leaves
    as a StatefulPartitionedCall, and exact GELU as Erfc, which tf2onnx lacks (ConvNeXt has both)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 4), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", groups=4)(inputs)
    outputs = keras.layers.Activation(lambda t: keras.activations.gelu(t, approximate=False))(x)
    keras_model = keras.Model(inputs, outputs)
    result = export_tensorflow(keras_model)
    assert not CALL_OPS & {node.op_type for node in result.model.graph.node}
    image = np.random.default_rng(0).standard_normal((2, 8, 8, 4)).astype(np.float32)
    (actual,) = OnnxRuntimeModel(result.model, provider="cpu").run({"image": image}).values()
    np.testing.assert_allclose(actual, run_keras(keras_model, [image]), rtol=1e-4, atol=1e-5)
