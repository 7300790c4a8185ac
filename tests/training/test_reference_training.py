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


def _sizes(named: dict) -> tuple[int, int]:
    return len(named), sum(int(np.prod(tuple(v.shape))) for v in named.values())


@pytest.mark.parametrize("target", ["torch", "tensorflow"])
@pytest.mark.parametrize("name", list(REFERENCE_MODELS))
def test_every_trainable_parameter_stays_trainable(name, target):
    model, _, onnx_model = _exported(name)
    imported = toolkit.convert(onnx_model, to=target)
    source = _source(name, model)
    if target == "torch":
        trainable = {n: p for n, p in imported.named_parameters() if p.requires_grad}
    else:
        trainable = {v.name: v for v in imported.trainable_variables}
    assert _sizes(trainable) == _sizes(source.parameters)
    assert set(train.imported(imported).parameters) == set(source.parameters)


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
