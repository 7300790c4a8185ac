"""Training steps run the same way on a source model and on its import, for gradient parity.

Every side is a `Trainee`: named float parameters (source names, source layout), a forward in
training mode, and the framework's own optimizer. The loss is the mean squared error of the
first output against a fixed target, so both sides differentiate the same function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit.errors import InputError


@dataclass
class Trainee:
    framework: str  # "torch" or "tensorflow"
    parameters: dict[str, Any]  # source name -> Parameter / Variable (trainable ones)
    state: dict[str, Any]  # source name -> buffer / non-trainable variable (running statistics)
    forward: Callable[..., Any]  # forward(inputs, training) -> first output
    to_source: Callable[[str, np.ndarray], np.ndarray]  # framework layout -> source layout
    from_source: Callable[[str, np.ndarray], np.ndarray] = field(default=lambda name, array: array)

    def values(self, which: str = "parameters") -> dict[str, np.ndarray]:
        items = self.parameters if which == "parameters" else self.state
        return {name: self.to_source(name, _numpy(value)) for name, value in items.items()}


def torch_source(module) -> Trainee:
    parameters = {n: p for n, p in module.named_parameters() if p.requires_grad and p.is_floating_point()}
    state = {n: b for n, b in module.named_buffers() if b.is_floating_point()}
    return Trainee("torch", parameters, state, _torch_forward(module), lambda name, array: array)


def keras_source(keras_model) -> Trainee:
    parameters = {v.path: v for v in keras_model.trainable_variables}
    state = {v.path: v for v in keras_model.non_trainable_variables if v.dtype.startswith("float")}

    def forward(inputs, training):
        return _first(keras_model(inputs[0] if len(inputs) == 1 else list(inputs), training=training))

    return Trainee("tensorflow", parameters, state, forward, lambda name, array: array)


def imported(module) -> Trainee:
    from toolkit.training import parameter_map

    mapping = parameter_map(module)
    parameters = {n: m.value for n, m in mapping.items() if m.trainable}
    state = {n: m.value for n, m in mapping.items() if not m.trainable}
    if not parameters:
        raise InputError("the model has no float parameters to train: nothing to compare")

    def to_source(name, array):
        return mapping[name].to_source(array)

    def from_source(name, array):
        return mapping[name].to_imported(array)

    if hasattr(module, "onnx_initializer_attributes"):
        return Trainee("torch", parameters, state, _torch_forward(module), to_source, from_source)

    def forward(inputs, training):
        return _first(module(*inputs, training=training))

    return Trainee("tensorflow", parameters, state, forward, to_source, from_source)


def step(trainee: Trainee, inputs: Sequence[np.ndarray], target: np.ndarray, optimizer: str, lr: float):
    """One training-mode step; returns (loss, {name: gradient in the source layout})."""
    if trainee.framework == "torch":
        return _torch_step(trainee, inputs, target, optimizer, lr)
    return _tensorflow_step(trainee, inputs, target, optimizer, lr)


def evaluate(trainee: Trainee, inputs: Sequence[np.ndarray]) -> np.ndarray:
    return _numpy(trainee.forward(inputs, False))


def _torch_forward(module):
    def forward(inputs, training):
        import torch

        module.train(training)
        try:
            with torch.set_grad_enabled(training):
                return _first(module(*[torch.from_numpy(np.asarray(x)) for x in inputs]))
        finally:
            module.eval()

    return forward


def _torch_step(trainee, inputs, target, optimizer, lr):
    import torch

    names = list(trainee.parameters)
    parameters = [trainee.parameters[n] for n in names]
    if not hasattr(trainee, "_optimizer") or trainee._optimizer_kind != optimizer:
        factory = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
        options = {"lr": lr} if optimizer == "sgd" else {"lr": lr, "eps": ADAM_EPSILON}
        trainee._optimizer, trainee._optimizer_kind = factory(parameters, **options), optimizer
    trainee._optimizer.zero_grad()
    output = trainee.forward(inputs, True)
    loss = torch.mean((output - torch.from_numpy(target)) ** 2)
    loss.backward()
    gradients = {
        n: trainee.to_source(n, p.grad.detach().numpy().copy()) if p.grad is not None else None
        for n, p in zip(names, parameters, strict=True)
    }
    trainee._optimizer.step()
    return float(loss.detach()), gradients


def _tensorflow_step(trainee, inputs, target, optimizer, lr):
    import keras
    import tensorflow as tf

    names = list(trainee.parameters)
    variables = [trainee.parameters[n] for n in names]
    if not hasattr(trainee, "_optimizer") or trainee._optimizer_kind != optimizer:
        trainee._optimizer = (
            keras.optimizers.SGD(lr)
            if optimizer == "sgd"
            else keras.optimizers.Adam(lr, epsilon=ADAM_EPSILON)
        )
        trainee._optimizer_kind = optimizer
    with tf.GradientTape() as tape:
        output = trainee.forward([tf.convert_to_tensor(x) for x in inputs], True)
        loss = tf.reduce_mean((output - target) ** 2)
    # Gathers (embeddings) give IndexedSlices: dense, to compare with torch's dense gradients.
    grads = [
        tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
        for g in tape.gradient(loss, variables)
    ]
    gradients = {
        n: trainee.to_source(n, _numpy(g)) if g is not None else None
        for n, g in zip(names, grads, strict=True)
    }
    trainee._optimizer.apply_gradients(
        [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
    )
    return float(loss), gradients


# Keras Adam puts epsilon outside the bias correction, torch inside: a tiny epsilon makes them agree.
ADAM_EPSILON = 1e-12


def _first(output):
    if isinstance(output, dict):
        output = next(iter(output.values()))
    if isinstance(output, (list, tuple)):
        output = output[0]
    return output


def _numpy(value) -> np.ndarray:
    if value is None:
        return None
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)
