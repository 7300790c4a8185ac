"""Every reference model, exported with trainable=True and imported into the other framework:
the same trainable parameters, the same gradients, and the same eval outputs after one SGD and
one Adam step on the same batch (float32: rtol 1e-4, atol 1e-5)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import toolkit
from models import REFERENCE_MODELS, load_reference
from toolkit.parity import train
from toolkit.training.inventory import trainable_inventory

RTOL, ATOL = 1e-4, 1e-5


@functools.cache
def _exported(name: str):
    reference = load_reference(name)
    model = reference.build()
    examples = tuple(np.asarray(x) for x in reference.example_inputs())
    onnx_model = toolkit.convert(model, to="onnx", example_inputs=examples, trainable=True)
    return model, examples, onnx_model


def _source(name, model):
    return train.torch_source(model) if name.startswith("torch_") else train.keras_source(model)


@pytest.mark.parametrize("target", ["torch", "tensorflow"])
@pytest.mark.parametrize("name", list(REFERENCE_MODELS))
def test_every_trainable_parameter_stays_trainable(name, target):
    """The path users take, `convert --to torch/tensorflow`: the count and total size of trainable
    parameters of source and import are the same, and each maps back to its source name."""
    reference = load_reference(name)
    model = reference.build()
    examples = tuple(np.asarray(x) for x in reference.example_inputs())
    imported = toolkit.convert(model, to=target, example_inputs=examples)
    assert trainable_inventory(imported) == trainable_inventory(model)
    assert set(train.imported(imported).parameters) == set(_source(name, model).parameters)


def _other(name: str) -> str:
    return "tensorflow" if name.startswith("torch_") else "torch"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REFERENCE_MODELS))
def test_one_sgd_and_one_adam_step_match_the_source(name):
    model, examples, onnx_model = _exported(name)
    imported = train.imported(toolkit.convert(onnx_model, to=_other(name)))
    source = _source(name, model)
    before = source.values()
    for key, value in imported.values().items():  # the import starts from the source's weights
        np.testing.assert_allclose(value, before[key], rtol=0, atol=0)
    rng = np.random.default_rng(7)
    target = rng.standard_normal(np.shape(train.evaluate(source, examples))).astype(np.float32)
    fresh = tuple(
        rng.standard_normal(x.shape).astype(x.dtype) if x.dtype.kind == "f" else x for x in examples
    )
    for optimizer, lr in (("sgd", 1e-2), ("adam", 1e-3)):
        source_loss, source_gradients = train.step(source, examples, target, optimizer, lr)
        imported_loss, imported_gradients = train.step(imported, examples, target, optimizer, lr)
        assert imported_loss == pytest.approx(source_loss, rel=1e-4, abs=1e-6)
        for key, gradient in source_gradients.items():
            np.testing.assert_allclose(
                imported_gradients[key], gradient, rtol=1e-3, atol=1e-5, err_msg=f"{optimizer}: {key}"
            )
        np.testing.assert_allclose(
            train.evaluate(imported, fresh),
            train.evaluate(source, fresh),
            rtol=RTOL,
            atol=ATOL,
            err_msg=optimizer,
        )
