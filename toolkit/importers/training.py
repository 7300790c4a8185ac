"""What "training mode" means inside an imported graph, for the handlers of both importers.

ONNX graphs exported for inference carry BatchNormalization with its running statistics as
initializers and (after a trainable export) Dropout nodes; in the imported module these follow
the module's own mode: `module.train()` / `module.eval()` in torch (read at run time through
`self.training`), `module(x, training=True)` in TensorFlow (a Python bool at trace time).

The ONNX rules live here once: which node inputs are running statistics (state, not
parameters), and which variance updates them. ONNX and Keras update the running variance with
the batch's population variance; torch uses the unbiased one, so a graph torch.onnx wrote keeps
torch's convention and its import trains like the torch source.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import onnx

# ONNX BatchNormalization: inputs 3 and 4 are input_mean and input_var, the running statistics.
STATE_INPUTS = {"BatchNormalization": (3, 4)}
# torch.onnx writes this producer_name; tf2onnx writes "tf2onnx".
TORCH_PRODUCERS = frozenset({"pytorch"})


@dataclass(frozen=True)
class TrainingSemantics:
    """The mode handlers build for: `flag` is False, a Python bool, or the framework's own flag."""

    flag: Any = False
    unbiased_running_variance: bool = False

    @property
    def maybe_training(self) -> bool:
        """False only when the graph is certainly built for inference (nothing to follow at run time)."""
        return self.flag is not False


INFERENCE = TrainingSemantics()
_current: ContextVar[TrainingSemantics | None] = ContextVar("toolkit_training", default=None)


def current() -> TrainingSemantics:
    return _current.get() or INFERENCE


@contextlib.contextmanager
def building(flag: Any, model: onnx.ModelProto | None) -> Iterator[TrainingSemantics]:
    """Handlers called inside see `flag` as the training mode, with the model's variance convention."""
    semantics = TrainingSemantics(flag, unbiased_running_variance=follows_torch(model))
    token = _current.set(semantics)
    try:
        yield semantics
    finally:
        _current.reset(token)


def follows_torch(model: onnx.ModelProto | None) -> bool:
    return model is not None and model.producer_name in TORCH_PRODUCERS


def state_inputs(graph: onnx.GraphProto) -> set[str]:
    """Names of initializers a node keeps as running state (BatchNormalization's mean and variance)."""
    names: set[str] = set()
    for node in graph.node:
        for position in STATE_INPUTS.get(node.op_type, ()):
            if position < len(node.input) and node.input[position]:
                names.add(node.input[position])
    return names


def updates_running_statistics(attributes: dict, context) -> bool:
    """A BatchNormalization in training mode whose running-statistics outputs the graph itself uses
    (a training graph, as in ONNX's own tests) computes them functionally, whatever the module's mode."""
    return bool(attributes.get("training_mode")) and any(context.output_used(i) for i in (1, 2))
