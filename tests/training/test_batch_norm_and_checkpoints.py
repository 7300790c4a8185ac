"""BatchNormalization and Dropout follow train()/eval() (torch) and training= (TF) like their
source; Keras and torch checkpoints load into the import by source name."""

from __future__ import annotations

import numpy as np
import pytest

import toolkit
from toolkit.errors import InputError
from toolkit.parity import train
from toolkit.training import load_weights, parameter_map


def _keras_bn_cnn():
    import keras

    keras.utils.set_random_seed(3)
    image = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(2)(x))


def _torch_bn_cnn():
    import torch

    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4, momentum=0.2),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Flatten(),
        torch.nn.Linear(144, 2),
    )


def test_keras_conv_relu_gap_dense_keeps_its_four_parameters_in_torch():
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(image, keras.layers.Dense(2)(x))  # both biases start at zero
    imported = toolkit.convert(toolkit.convert(model, to="onnx", trainable=True), to="torch")
    # Keras numbers its layers per process (conv2d, conv2d_1, ...): compare with the model's own paths.
    assert sorted(parameter_map(imported)) == sorted(v.path for v in model.trainable_variables)
    assert len(list(imported.parameters())) == 4


def test_keras_batch_norm_in_torch_uses_batch_statistics_and_keras_momentum():
    import torch

    model = _keras_bn_cnn()
    imported = toolkit.convert(toolkit.convert(model, to="onnx", trainable=True), to="torch")
    names = {n for n, _ in imported.named_buffers()}
    moving = {v.path.replace("/", "_") for v in model.non_trainable_variables}  # per-process layer numbers
    assert moving and moving <= names, (moving, names)
    batch = np.random.default_rng(0).standard_normal((6, 8, 8, 3)).astype(np.float32)
    imported.train()
    out = imported(torch.from_numpy(batch))
    expected = model(batch, training=True).numpy()  # Keras updates its moving statistics here
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    mapping = parameter_map(imported)
    for variable in model.non_trainable_variables:
        np.testing.assert_allclose(mapping[variable.path].read(), variable.numpy(), rtol=1e-5, atol=1e-6)
    imported.eval()
    np.testing.assert_allclose(
        imported(torch.from_numpy(batch)).detach().numpy(), model(batch).numpy(), rtol=1e-4, atol=1e-5
    )


def test_torch_batch_norm_in_tensorflow_updates_running_statistics_like_torch():
    import torch

    module = _torch_bn_cnn()
    batch = torch.randn(6, 3, 8, 8)
    imported = toolkit.convert(
        toolkit.convert(module, to="onnx", example_inputs=(batch,), trainable=True), to="tf"
    )
    assert len(imported.trainable_variables) == 6 and len(imported.non_trainable_variables) == 2
    module.train()
    module(batch)  # torch: running_var from the unbiased batch variance, momentum 0.2
    imported(batch.numpy(), training=True)
    mapping = parameter_map(imported)
    for name in ("1.running_mean", "1.running_var"):
        np.testing.assert_allclose(
            mapping[name].read(), module.state_dict()[name].numpy(), rtol=1e-5, atol=1e-6
        )
    module.eval()
    np.testing.assert_allclose(
        imported(batch.numpy()).numpy(), module(batch).detach().numpy(), rtol=1e-4, atol=1e-5
    )


def test_dropout_applies_only_in_training_mode():
    import torch

    module = _torch_bn_cnn()
    batch = torch.randn(4, 3, 8, 8)
    onnx_model = toolkit.convert(module, to="onnx", example_inputs=(batch,), trainable=True)
    assert "Dropout" in {node.op_type for node in onnx_model.graph.node}
    imported = toolkit.convert(onnx_model, to="torch")
    module.eval()
    np.testing.assert_allclose(
        imported(batch).detach().numpy(), module(batch).detach().numpy(), rtol=1e-4, atol=1e-5
    )
    imported.train()
    torch.manual_seed(0)
    first = imported(batch)
    assert not torch.allclose(first, imported(batch))  # a fresh mask each call
    tensorflow_module = toolkit.convert(onnx_model, to="tensorflow")
    inference = tensorflow_module(batch.numpy()).numpy()
    np.testing.assert_allclose(inference, tensorflow_module(batch.numpy()).numpy())
    assert not np.allclose(tensorflow_module(batch.numpy(), training=True).numpy(), inference)


def test_keras_checkpoint_saved_after_training_drives_the_torch_import(tmp_path):
    import torch

    model = _keras_bn_cnn()
    imported = toolkit.convert(toolkit.convert(model, to="onnx", trainable=True), to="torch")
    rng = np.random.default_rng(1)
    x, y = (
        rng.standard_normal((16, 8, 8, 3)).astype(np.float32),
        rng.standard_normal((16, 2)).astype(np.float32),
    )
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "trained.weights.h5"
    model.save_weights(path)
    assert len(load_weights(imported, path)) == 8
    np.testing.assert_allclose(
        imported(torch.from_numpy(x)).detach().numpy(), model(x).numpy(), rtol=1e-4, atol=1e-5
    )


def test_torch_state_dict_loads_into_the_tensorflow_import(tmp_path):
    import torch

    module = _torch_bn_cnn().eval()
    batch = torch.randn(3, 3, 8, 8)
    imported = toolkit.convert(
        toolkit.convert(module, to="onnx", example_inputs=(batch,), trainable=True), to="tf"
    )
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1)
    torch.save(module.state_dict(), tmp_path / "state.pt")
    load_weights(imported, tmp_path / "state.pt")
    assert parameter_map(imported)["0.weight"].perm is not None  # OIHW held as HWIO
    np.testing.assert_allclose(
        imported(batch.numpy()).numpy(), module(batch).detach().numpy(), rtol=1e-4, atol=1e-5
    )
    torch.save({"other.weight": torch.zeros(1)}, tmp_path / "wrong.pt")
    before = parameter_map(imported)["0.weight"].read()
    with pytest.raises(InputError, match="does not match"):
        load_weights(imported, tmp_path / "wrong.pt")
    np.testing.assert_array_equal(parameter_map(imported)["0.weight"].read(), before)  # nothing written


def test_a_model_without_float_parameters_is_an_input_error():
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InputError, match="no float parameters"):
        train.imported(toolkit.convert(model, to="torch"))


def test_trainable_export_keeps_the_running_statistics_and_the_saved_program_trains(tmp_path):
    import torch
    from onnx import numpy_helper

    from toolkit.importers.torch import save

    module = _torch_bn_cnn().eval()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    batch = torch.randn(4, 3, 8, 8)
    onnx_model = toolkit.convert(module, to="onnx", example_inputs=(batch,), trainable=True)
    for name, value in module.state_dict().items():  # the training-mode trace moved nothing
        assert torch.equal(value, before[name]), name
    initializers = {i.name: numpy_helper.to_array(i) for i in onnx_model.graph.initializer}
    np.testing.assert_array_equal(initializers["1.running_var"], before["1.running_var"].numpy())
    imported = toolkit.convert(onnx_model, to="torch")
    save(imported, tmp_path / "bn.pt2", example_inputs=(batch,))
    program = torch.export.load(tmp_path / "bn.pt2").module()
    np.testing.assert_allclose(
        program(batch).detach().numpy(), module(batch).detach().numpy(), rtol=1e-5, atol=1e-6
    )
