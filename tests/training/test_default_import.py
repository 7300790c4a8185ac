"""`convert --to torch/tensorflow` from a torch or Keras model exports for training by default: every
trainable source parameter is a trainable parameter of the import, running statistics are
buffers / non-trainable variables, constants of the graph stay constants, and Keras Dropout
applies in training mode only."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import toolkit
from toolkit.parity import train
from toolkit.training.inventory import Inventory, trainable_inventory


def _keras_conv_gap_dense():
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(image)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(2)(x))  # both biases start at zero


@pytest.mark.parametrize("target", ["torch", "tensorflow"])
def test_the_issue_repro_keeps_four_parameters_by_default(target):
    model = _keras_conv_gap_dense()
    imported = toolkit.convert(model, to=target)
    assert trainable_inventory(imported) == trainable_inventory(model)
    assert trainable_inventory(imported).count == 4
    assert toolkit.verify_parity(model, imported)
    # Asked for the inference graph, the exporters fold the zero biases away (README, what each exporter allows).
    assert trainable_inventory(toolkit.convert(model, to=target, trainable=False)).count == 2


def test_keras_dropout_applies_in_training_mode_only():
    import keras
    import tensorflow as tf
    import torch

    keras.utils.set_random_seed(1)
    features = keras.Input((4096,))
    x = keras.layers.Dense(4096, kernel_initializer="identity", use_bias=False)(features)
    model = keras.Model(features, keras.layers.Dropout(0.25)(x))
    ones = np.ones((2, 4096), np.float32)
    onnx_model = toolkit.convert(model, to="onnx", trainable=True)
    assert "Dropout" in {node.op_type for node in onnx_model.graph.node}
    assert toolkit.verify_parity(model, onnx_model, example_inputs=(ones,))
    torch_module = toolkit.convert(onnx_model, to="torch")
    tensorflow_module = toolkit.convert(onnx_model, to="tensorflow")
    np.testing.assert_array_equal(torch_module(torch.from_numpy(ones)).detach().numpy(), ones)
    np.testing.assert_array_equal(tensorflow_module(ones).numpy(), ones)
    torch_module.train()
    for dropped in (
        torch_module(torch.from_numpy(ones)).detach().numpy(),
        tensorflow_module(tf.constant(ones), training=True).numpy(),
    ):
        # Keras's rate 0.25: a quarter of the values dropped, the rest scaled by 1 / 0.75.
        assert 0.2 < float(np.mean(dropped == 0)) < 0.3
        np.testing.assert_allclose(dropped[dropped != 0], 1 / 0.75, rtol=1e-6)


@pytest.mark.slow
def test_convert_cli_to_torch_keeps_the_batch_norm_cnn_parameters(tmp_path, repository):
    import torch

    from models import load_reference

    program = tmp_path / "cnn.pt2"
    completed = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "convert", "models/keras_cnn.py:build", "--to", "torch"]
        + ["-o", str(program)],
        capture_output=True,
        text=True,
        cwd=repository,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    reloaded = torch.export.load(str(program))
    parameters = [reloaded.state_dict[name] for name in reloaded.graph_signature.parameters]
    buffers = [name for name in reloaded.graph_signature.buffers if "moving" in name]
    source = load_reference("keras_cnn").build()
    expected = trainable_inventory(source)
    assert (len(parameters), sum(p.numel() for p in parameters)) == (expected.count, expected.size)
    assert len(buffers) == sum("moving" in v.path for v in source.non_trainable_variables)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["torch", "tensorflow"])
def test_llama_block_constants_stay_constants_and_gradients_match(target):
    import torch
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
        use_cache=False,
    )
    model = LlamaModel(config).eval()
    rng = np.random.default_rng(0)
    input_ids = rng.integers(0, 64, (2, 8)).astype(np.int64)
    imported = toolkit.convert(model, to=target, example_inputs=(input_ids,))
    # RMSNorm's exponent and rotary inv_freq are graph constants, not parameters.
    assert trainable_inventory(imported) == trainable_inventory(model)
    source, candidate = train.torch_source(model), train.imported(imported)
    assert set(candidate.parameters) == set(source.parameters)
    target_output = rng.standard_normal((2, 8, 16)).astype(np.float32)
    source_loss, source_gradients = train.step(source, (input_ids,), target_output, "sgd", 1e-2)
    loss, gradients = train.step(candidate, (input_ids,), target_output, "sgd", 1e-2)
    assert loss == pytest.approx(source_loss, rel=1e-4)
    for name, gradient in source_gradients.items():
        assert np.isfinite(gradients[name]).all(), name
        np.testing.assert_allclose(gradients[name], gradient, rtol=1e-3, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("target", ["torch", "tensorflow"])
def test_a_frozen_torch_parameter_stays_frozen(target):
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).eval()
    module[0].weight.requires_grad_(False)  # frozen, as Whisper's positional table is
    imported = toolkit.convert(module, to=target, example_inputs=(np.ones((2, 4), np.float32),))
    assert trainable_inventory(imported) == trainable_inventory(module) == Inventory(3, 3 + 6 + 2)
    assert "0.weight" not in train.imported(imported).parameters
    assert toolkit.verify_parity(module, imported, example_inputs=(np.ones((2, 4), np.float32),))
