"""The reference-model registry: lazy listing, and every module's build()/example_inputs() contract."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from models import REFERENCE_MODELS, load_reference, references
from toolkit.errors import UsageError


def test_listing_and_export_package_import_no_framework():
    code = (
        "import sys, models, toolkit.export; models.REFERENCE_MODELS; toolkit.export.__all__; "
        "print(sorted(name for name in ('torch', 'tensorflow', 'keras', 'tf2onnx') if name in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


def test_unknown_name_is_a_usage_error():
    with pytest.raises(UsageError, match="torch_cnn"):
        load_reference("nonexistent")


def test_every_framework_is_listed():
    assert set(references("torch")) | set(references("keras")) == set(REFERENCE_MODELS)


@pytest.mark.parametrize("name", sorted(REFERENCE_MODELS))
def test_module_contract(name):
    reference = load_reference(name)
    assert reference.FRAMEWORK == name.split("_")[0]
    assert callable(reference.build)
    inputs = reference.example_inputs()
    assert isinstance(inputs, tuple) and inputs
    assert all(isinstance(array, np.ndarray) and array.shape[0] == 2 for array in inputs)
    assert len(reference.INPUT_NAMES) == len(inputs)
    again = reference.example_inputs()
    assert all(np.array_equal(first, second) for first, second in zip(inputs, again, strict=True))


def test_transformer_examples_include_padding():
    token_ids, padding_mask = load_reference("torch_transformer").example_inputs()
    assert token_ids.dtype == np.int64 and padding_mask.dtype == np.bool_
    assert padding_mask.any() and not padding_mask.all(axis=1).any()


@pytest.mark.parametrize("name", ["torch_resnet", "keras_separable_cnn"])
def test_build_is_deterministic_with_random_batch_norm_statistics(name):
    reference = load_reference(name)
    inputs = reference.example_inputs()
    outputs = []
    for _ in range(2):
        model = reference.build()
        if reference.FRAMEWORK == "torch":
            import torch

            with torch.no_grad():
                outputs.append(model(*(torch.from_numpy(array) for array in inputs)).numpy())
            means = [
                module.running_mean for module in model.modules() if isinstance(module, torch.nn.BatchNorm2d)
            ]
        else:
            import keras

            outputs.append(np.asarray(model(inputs[0], training=False)))
            means = [
                layer.moving_mean
                for layer in model.layers
                if isinstance(layer, keras.layers.BatchNormalization)
            ]
        assert means and all(np.abs(np.asarray(mean)).max() > 0 for mean in means)
    np.testing.assert_array_equal(outputs[0], outputs[1])
