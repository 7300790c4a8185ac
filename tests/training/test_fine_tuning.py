"""20 seeded steps of fine-tuning a BatchNorm CNN in the other framework: the loss curve stays
within 1e-3 relative of the source framework's own run."""

from __future__ import annotations

import numpy as np

import toolkit
from tests.training.test_batch_norm_and_checkpoints import _keras_bn_cnn, _torch_bn_cnn
from toolkit.parity import train

STEPS = 20


def _curves(source, imported, inputs, target):
    source_losses, imported_losses = [], []
    for _ in range(STEPS):
        source_losses.append(train.step(source, inputs, target, "sgd", 1e-2)[0])
        imported_losses.append(train.step(imported, inputs, target, "sgd", 1e-2)[0])
    return np.array(source_losses), np.array(imported_losses)


def _task(shape, outputs):
    rng = np.random.default_rng(11)
    return [rng.standard_normal(shape).astype(np.float32)], rng.standard_normal((shape[0], outputs)).astype(
        np.float32
    )


def test_keras_batch_norm_cnn_fine_tuned_in_torch():
    model = _keras_bn_cnn()
    imported = toolkit.convert(toolkit.convert(model, to="onnx", trainable=True), to="torch")
    inputs, target = _task((8, 8, 8, 3), 2)
    keras_losses, torch_losses = _curves(train.keras_source(model), train.imported(imported), inputs, target)
    assert keras_losses[-1] < keras_losses[0]
    np.testing.assert_allclose(torch_losses, keras_losses, rtol=1e-3)


def test_torch_batch_norm_cnn_fine_tuned_in_tensorflow():
    import torch

    module = _torch_bn_cnn()
    module[3].p = 0.0  # two frameworks cannot draw the same masks: dropout off for the curves
    example = torch.randn(2, 3, 8, 8)
    onnx_model = toolkit.convert(module, to="onnx", example_inputs=(example,), trainable=True)
    imported = toolkit.convert(onnx_model, to="tensorflow")
    inputs, target = _task((8, 3, 8, 8), 2)
    torch_losses, tensorflow_losses = _curves(
        train.torch_source(module), train.imported(imported), inputs, target
    )
    assert torch_losses[-1] < torch_losses[0]
    np.testing.assert_allclose(tensorflow_losses, torch_losses, rtol=1e-3)
