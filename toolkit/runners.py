"""Anything that computes, behind one call: positional numpy inputs in, a list of numpy outputs out.

Parity and the main job compare models from different frameworks; each framework's calling
convention (tensors, training flags, signatures, nested outputs) is handled here once.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolkit.errors import InputError
from toolkit.io import first_line
from toolkit.outputs import leaves, named_leaves
from toolkit.sources import Source


@dataclass
class InputSpec:
    """A model input as far as it is known: unknown sizes are None or a symbolic name."""

    name: str
    dtype: np.dtype | None
    shape: tuple[int | str | None, ...] | None


class Runnable:
    """A model of any framework, called with numpy arrays in its input order."""

    framework: str = ""
    label: str = ""
    input_specs: list[InputSpec] | None = None
    output_names: list[str] | None = None
    # Positions, in the caller's order, of this model's inputs (set by align_inputs).
    input_order: list[int] | None = None

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def align_inputs(self, names: Sequence[str]) -> None:
        """Accept inputs in `names` order when this model takes the same names in another order.

        SavedModel signatures keep their inputs in a dict sorted by name, not in graph order.
        """
        own = [spec.name for spec in self.input_specs or []]
        if sorted(own) == sorted(names) and own != list(names):
            self.input_order = [list(names).index(name) for name in own]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Call the model, turning any framework error into a one-line InputError naming the model."""
        if self.input_order is not None:
            inputs = [inputs[position] for position in self.input_order]
        try:
            return self(inputs)
        except InputError:
            raise
        except Exception as error:
            shapes = ", ".join(f"{np.asarray(x).dtype}{list(np.shape(x))}" for x in inputs)
            raise InputError(
                f"{self.label}: running the {self.framework} model on inputs ({shapes}) failed: "
                f"{type(error).__name__}: {first_line(error)}"
            ) from error


class OnnxRunnable(Runnable):
    framework = "onnxruntime"

    def __init__(self, model: Any, label: str, provider: str = "auto"):
        from toolkit.runtime import OnnxRuntimeModel

        self.label = label
        self.session = OnnxRuntimeModel(model, provider=provider)
        self.session.label = label
        self.input_specs = [InputSpec(s.name, s.dtype, s.shape) for s in self.session.inputs]
        self.output_names = self.session.output_names

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        outputs = self.session.run(dict(zip(self.session.input_names, inputs, strict=True)))
        return [outputs[name] for name in self.output_names]


class TorchRunnable(Runnable):
    framework = "torch"

    def __init__(
        self, model: Any, label: str, input_names: list[str] | None = None, keyword_inputs: bool = False
    ):
        import torch

        if isinstance(model, torch.export.ExportedProgram):
            model = model.module()
        self.module = model
        self.label = label
        self.keyword_inputs = keyword_inputs and bool(input_names)
        if input_names:
            self.input_specs = [InputSpec(name, None, None) for name in input_names]
        if hasattr(model, "eval") and not isinstance(model, torch.fx.GraphModule):
            model.eval()

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
        with torch.no_grad():
            if self.keyword_inputs:
                names = [spec.name for spec in self.input_specs]
                result = self.module(**dict(zip(names, tensors, strict=True)))
            else:
                result = self.module(*tensors)
        named = named_leaves(result)
        # Names of a ModelOutput/dict/nested result; a GraphModule's flat tuple keeps positions.
        if not isinstance(self.module, torch.fx.GraphModule):
            self.output_names = [name for name, _ in named]
        return [np.asarray(t.detach().cpu().numpy()) for _, t in named]


class KerasRunnable(Runnable):
    framework = "keras"

    def __init__(self, model: Any, label: str):

        self.model = model
        self.label = label
        self.input_specs = [
            InputSpec(t.name.split(":")[0], np.dtype(t.dtype), tuple(t.shape)) for t in model.inputs
        ]
        self.output_names = keras_output_names(model)
        self._function = _traced_keras_call(model)

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        # tf.nest's order (dict keys sorted), which the exported graph's outputs follow too.
        named = named_leaves(self._function(*inputs), sort_keys=True)
        if isinstance(_keras_structure(self.model, "output"), dict):
            self.output_names = [name for name, _ in named]
        return [np.asarray(t) for _, t in named]


class TensorflowRunnable(Runnable):
    """A tf.Module: the toolkit's imported module (positional __call__) or a SavedModel signature."""

    framework = "tensorflow"

    def __init__(self, model: Any, label: str):
        self.model = model
        self.label = label
        signatures = getattr(model, "signatures", None)
        self.signature = signatures.get("serving_default") if signatures else None
        if self.signature is not None:
            keyword_specs = self.signature.structured_input_signature[1]
            self.input_specs = [
                InputSpec(name, np.dtype(spec.dtype.as_numpy_dtype), tuple(spec.shape))
                for name, spec in keyword_specs.items()
            ]
            self.output_names = list(self.signature.structured_outputs.keys())
        elif getattr(model, "output_names", None):
            self.output_names = list(model.output_names)

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self.signature is not None:
            feeds = {spec.name: x for spec, x in zip(self.input_specs, inputs, strict=True)}
            outputs = self.signature(**feeds)
            return [np.asarray(outputs[name]) for name in self.output_names]
        return [np.asarray(t) for t in leaves(self.model(*inputs))]


_TRACED_KERAS_CALLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _traced_keras_call(model: Any):
    """One traced function per Keras model, as Keras users serve it (eager calls of big models are slow).

    Kept per model so that every comparison of the same model reuses the trace; reduce_retracing
    generalises the batch size after the second shape instead of tracing each one.
    """
    import tensorflow as tf

    if model not in _TRACED_KERAS_CALLS:
        call_inputs = keras_call_inputs(model)
        _TRACED_KERAS_CALLS[model] = tf.function(
            lambda *xs: model(call_inputs(xs), training=False), reduce_retracing=True
        )
    return _TRACED_KERAS_CALLS[model]


def keras_call_inputs(model: Any):
    """How a Keras model takes its flat inputs: a dict for dict inputs, one tensor, or a list."""
    from toolkit.sources import keras_input_names

    if isinstance(_keras_structure(model, "input"), dict):
        names = keras_input_names(model)
        return lambda xs: dict(zip(names, xs, strict=True))
    return lambda xs: xs[0] if len(xs) == 1 else list(xs)


def keras_output_names(model: Any) -> list[str] | None:
    """Output names as the export gives them: dict keys for dict outputs, else the output layers' names."""
    structure = _keras_structure(model, "output")
    if isinstance(structure, dict):
        return [name for name, _ in named_leaves(structure, sort_keys=True)]
    names = list(getattr(model, "output_names", None) or [])
    return names if names and len(set(names)) == len(names) else None


def runnable(source: Source, provider: str = "auto") -> Runnable:
    """The right wrapper for a loaded source."""
    if source.kind == "onnx":
        # onnxruntime reads a file directly; re-serialising a big in-memory model costs ~1 ms per MB.
        return OnnxRunnable(source.path or source.model, source.label, provider=provider)
    if source.kind == "torch":
        return TorchRunnable(source.model, source.label, source.input_names, source.keyword_inputs)
    if source.kind == "keras":
        return KerasRunnable(source.model, source.label)
    if source.kind == "tensorflow":
        return TensorflowRunnable(source.model, source.label)
    if source.kind == "tflite":
        from toolkit.tflite.runner import TFLiteRunnable

        return TFLiteRunnable(source.path, source.label)
    raise InputError(f"{source.label}: cannot run a model of kind {source.kind!r}")


def _keras_structure(model: Any, attribute: str) -> Any:
    """A functional model's `input`/`output` structure; None for a model never built on inputs."""
    if not getattr(model, attribute + "s", None):
        return None
    try:
        return getattr(model, attribute)
    except (AttributeError, ValueError):
        return None
