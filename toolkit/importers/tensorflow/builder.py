"""PreparedModel → tf.Module: parameters as tf.Variables, a tf.function `__call__` with the graph's signature."""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import tensorflow as tf
from tensorflow.python.eager.polymorphic_function.polymorphic_function import Function

from toolkit.importers import core, weights
from toolkit.importers import training as training_mode
from toolkit.importers.semantics import flatten
from toolkit.importers.tensorflow import dtypes, layout
from toolkit.importers.tensorflow.ops import TAG_KEEPING_OPS, tf_dtype

# tf.TensorSpec names (and so SavedModel signature keys) must match this.
_SPEC_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def tf_name(name: str, taken: set[str] | None = None) -> str:
    """An ONNX name (any unicode) in the ASCII alphabet TF's scopes, variables and modules take:
    accents dropped (é → e), other characters as their code point (图 → u56fe), the rest as
    core.python_name makes it. Errors still quote the ONNX name itself."""
    spelled = "".join(
        c if c.isascii() else "" if unicodedata.combining(c) else f"_u{ord(c):04x}_"
        for c in unicodedata.normalize("NFKD", name)
    )
    if spelled != name:
        spelled = re.sub("_{2,}", "_", core.python_name(spelled))  # 权重 → u6743_u91cd
    return core.python_name(spelled, taken)


class TensorFlowBinder:
    """Binds each constant once: float initializers become trainable tf.Variables, the rest tf.constants.

    Constants planned by layout.py are stored permuted (convolution weights as HWIO). Binding is
    cached per array so subgraph bodies traced several times reuse the same variables.
    """

    def __init__(self, plan: dict[str, tuple[int, ...] | layout.FoldedRows], state: set[str] = frozenset()):
        self.plan = plan
        self.state = state  # running statistics: non-trainable variables, assigned in training mode
        self.variables: list[tf.Variable] = []
        self.named: dict[
            str, tuple[tf.Variable, tuple[int, ...] | None]
        ] = {}  # ONNX name -> (variable, perm)
        self._bound: dict[int, Any] = {}
        self.by_name: dict[str, Any] = {}  # ONNX name -> bound value (tf.Variable, tensor or a layout tag)
        self.layouts: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}  # name -> (split, source shape)
        self._taken: set[str] = set()

    def constant(self, array: np.ndarray, name: str, trainable: bool) -> Any:
        key = id(array)
        if key in self._bound:
            return self._bound[key][1]
        perm = self.plan.get(name)
        folded = perm if isinstance(perm, layout.FoldedRows) else None
        if folded is not None:
            columns = array.shape[0] if folded.transposed else array.shape[1]
            split, perm = flatten.weight_layout(*folded.rows, columns, folded.transposed)
            stored = dtypes.carry_array(flatten.stored_weight(array, split, perm))
            self.layouts[name] = (split, tuple(array.shape))
        else:
            stored = dtypes.carry_array(np.ascontiguousarray(np.transpose(array, perm)) if perm else array)
        if perm:
            # The permuted copy is all TF reads: the mapped pages go now, not after TF's own copy.
            weights.release_pages(array)
        if trainable:
            value = tf.Variable(stored, name=tf_name(name, self._taken), trainable=True)
            self.variables.append(value)
        elif name in self.state:
            value = tf.Variable(stored, name=tf_name(name, self._taken), trainable=False)
            self.variables.append(value)
        if trainable or name in self.state:
            self.named.setdefault(name, (value, tuple(perm) if perm else None))
        else:
            value = tf.constant(stored)
        if folded is not None:
            value = layout.FoldedWeight(value, folded.rows, folded.transposed)
        elif perm:
            value = layout.Transposed(value, perm)
        self._bound[key] = (array, value)  # keep the array alive so its id stays unique
        self.by_name.setdefault(name, value)
        # TF holds its own copy now: a memory-mapped weight's pages can leave this process.
        weights.release_pages(array)
        return value

    def forget(self, arrays) -> None:
        """Drop the cached bindings of `arrays` (top-level constants, bound once and never again)."""
        for array in arrays:
            self._bound.pop(id(array), None)

    def refine(self, value: Any, info: core.ValueInfo) -> Any:
        """Under tf.function, give a traced tensor the rank and sizes ONNX shape inference knows
        (a tf.while_loop's state or a reshape to a computed shape loses them); never a conflicting one."""
        if info.shape is None:
            return value
        target = tf.TensorShape([d if isinstance(d, int) else None for d in info.shape])
        stored = value.stored if isinstance(value, layout.Transposed) else value
        if tf.executing_eagerly() or not isinstance(stored, tf.Tensor) or stored.shape.is_fully_defined():
            return value
        if isinstance(value, layout.Transposed):
            target = tf.TensorShape([target[p] for p in value.perm])
        if stored.shape.is_compatible_with(target):
            stored.set_shape(target)
        return value


def _name_scope(step: core.Step):
    return tf.name_scope(tf_name(step.context.name))


def _bind_everything(graph: core.PreparedGraph, binder: TensorFlowBinder) -> dict[str, Any]:
    bound = core.bind_constants(graph, binder)
    for subgraph in graph.subgraphs.values():
        _bind_everything(subgraph, binder)
    return bound


def _spec(value: onnx.ValueInfoProto, taken: set[str]) -> tf.TensorSpec | None:
    if not value.type.HasField("tensor_type"):
        return None
    tensor_type = value.type.tensor_type
    shape = None
    if tensor_type.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
    name = value.name if _SPEC_NAME.match(value.name) else tf_name(value.name)
    name = tf_name(name, taken) if name in taken else name
    taken.add(name)
    return tf.TensorSpec(shape, tf_dtype(tensor_type.elem_type), name=name)


class ImportedModule(tf.Module):
    """An ONNX graph as a tf.Module: positional inputs in graph order, a tensor or a tuple back.

    `__call__` is a tf.function whose input signature comes from the ONNX graph inputs (unknown
    dimensions stay None); `call_eager` runs the same handlers op by op without tracing.
    """

    def __init__(self, prepared: core.PreparedModel, name: str | None = None):
        super().__init__(name=name)
        graph = prepared.graph
        plan = layout.plan_constants(
            graph.graph, graph.constants, graph.value_info, frozenset(TAG_KEEPING_OPS)
        )
        binder = TensorFlowBinder(plan, _all_state(graph))
        with tf.name_scope(self.name or "imported"):
            constants = _bind_everything(graph, binder)
        binder.forget(graph.constants.values())
        # Held outside tf.Module's attribute tracking: only `parameters` is state to save. The
        # bound constants' numpy arrays are not (a second copy of the weights).
        self._state = _Untracked(constants=constants, binder=binder, prepared=_after_binding(prepared))
        self.parameters = list(binder.variables)  # tracked by tf.Module for checkpoints and SavedModel
        inputs = {i.name: i for i in prepared.model.graph.input}
        taken: set[str] = set()
        self.input_specs = [_spec(inputs[name], taken) for name in graph.input_names]
        self.input_names = list(graph.input_names)
        self.output_names = list(graph.output_names)

    @property
    def onnx_model(self) -> onnx.ModelProto:
        """The ONNX model this module runs, as the core prepared it (upgraded, shapes inferred), its
        weights read back from the module's own values (the import keeps no copy of them)."""
        if getattr(self._state, "saving", False):
            raise AttributeError("onnx_model is not read while a SavedModel is written")
        return _rebuilt_onnx_model(self._state)

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        # tf.saved_model.save reads every attribute in dir() to find tf.functions; onnx_model would
        # rebuild every weight for it (a third copy: 3x the weights at the 100M decoder's save).
        self._state.saving = True
        try:
            return super()._trackable_children(save_type, **kwargs)
        finally:
            self._state.saving = False

    @property
    def onnx_graph(self) -> onnx.GraphProto:
        """The graph this module runs, without its weights (cheap: nothing is read back)."""
        return self._state.prepared.model.graph

    @property
    def onnx_variables(self) -> dict[str, tuple[tf.Variable, tuple[int, ...] | None]]:
        """{ONNX initializer name: (variable, perm)}: where each parameter and running statistic
        lives, and the permutation layout.py stored it with (None: ONNX layout)."""
        return self._state.binder.named

    @property
    def onnx_variable_layouts(self) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
        """{ONNX initializer name: (split, ONNX shape)} for the weights stored with their rows
        reordered (layout.FoldedWeight): `perm` applies to the ONNX value viewed as `split`."""
        return self._state.binder.layouts

    def run_observed(self, inputs: Any, observe: Callable[[core.Step, tuple], None]) -> list[Any]:
        """Run the handlers eagerly, op by op, calling `observe(step, outputs)` after every step
        with its outputs in ONNX layout (for localisation); returns the graph outputs."""

        def in_onnx_layout(step: core.Step, outputs: tuple) -> None:
            observe(step, tuple(v if isinstance(v, list) else layout.to_onnx(v) for v in outputs))

        graph, state = self._state.prepared.graph, self._state
        feeds = {name: _as_tensor(value) for name, value in zip(graph.input_names, inputs, strict=True)}
        outputs = core.run_graph(
            graph, feeds, state.binder, constants=state.constants, observe=in_onnx_layout
        )
        return [_as_output(value) for value in outputs]

    def call_eager(self, *inputs: Any, training: bool = False) -> Any:
        with training_mode.building(bool(training), self._state.prepared.model):
            outputs = self._run(inputs)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def _run(self, inputs) -> list[Any]:
        graph = self._state.prepared.graph
        if len(inputs) != len(graph.input_names):
            raise TypeError(
                f"expected {len(graph.input_names)} inputs ({', '.join(graph.input_names)}), got {len(inputs)}"
            )
        feeds = {name: _as_tensor(value) for name, value in zip(graph.input_names, inputs, strict=True)}
        state = self._state
        environment = {**state.constants, **feeds}  # every value by ONNX name, for the Gradient operator
        with_gradients = _with_gradient_forwards(graph, environment)

        def observe(step: core.Step, outputs: tuple) -> None:
            environment.update(
                (name, value) for name, value in zip(step.node.output, outputs, strict=False) if name
            )

        # Only a graph with a Gradient keeps every value it computed until the call ends.
        outputs = core.run_graph(
            with_gradients,
            feeds,
            state.binder,
            constants=state.constants,
            scope=_name_scope,
            observe=observe if with_gradients is not graph else None,
        )
        return [_as_output(value) for value in outputs]


def _with_gradient_forwards(graph: core.PreparedGraph, environment: dict) -> core.PreparedGraph:
    """Gradient steps get `forward`, the slice of the graph from their xs to y (as the torch
    builder gives them), run on this call's values."""
    steps, changed = list(graph.steps), False
    for index, step in enumerate(steps):
        if step.node.op_type == "Gradient" and step.context.domain == "ai.onnx.preview.training":
            changed = True
            forward = core.Subgraph(core.gradient_forward(step, index, graph), None, environment)
            function = functools.partial(step.handler.function, forward=forward)
            steps[index] = dataclasses.replace(
                step, handler=dataclasses.replace(step.handler, function=function)
            )
    return dataclasses.replace(graph, steps=steps) if changed else graph


def _after_binding(prepared: core.PreparedModel) -> core.PreparedModel:
    """What calls still read once every constant is bound: the steps, and the subgraphs' own
    constants (bound again each time a body is traced); the top graph's constants are tf values
    now. The model is the light one `core.prepare` made (weights detached), so it holds no weights."""
    return dataclasses.replace(prepared, graph=_without_bound_constants(prepared.graph, top=True))


def _without_bound_constants(graph: core.PreparedGraph, top: bool) -> core.PreparedGraph:
    return dataclasses.replace(
        graph,
        constants={} if top else graph.constants,
        subgraphs={key: _without_bound_constants(sub, top=False) for key, sub in graph.subgraphs.items()},
    )


def _rebuilt_onnx_model(state) -> onnx.ModelProto:
    """The light prepared model with each detached weight read back from its bound tf value."""
    model = onnx.ModelProto()
    model.CopyFrom(state.prepared.model)
    for position, tensor in enumerate(model.graph.initializer):
        if not weights.is_detached(tensor):
            continue
        value = state.binder.by_name[tensor.name]
        if isinstance(value, layout.FoldedWeight):
            array = value.onnx_array(np.asarray(value.stored))
        elif isinstance(value, layout.Transposed):
            array = np.transpose(np.asarray(value.stored), np.argsort(value.perm))
        else:
            array = np.asarray(value)
        array = dtypes.as_onnx_array(array, tensor.data_type)
        model.graph.initializer[position].CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))
    return model


def _all_state(graph: core.PreparedGraph) -> set[str]:
    return set(graph.state).union(*(_all_state(g) for g in graph.subgraphs.values()))


class _ModeFunction(Function):
    """The inference tf.function (signature, concrete functions, SavedModel) that also takes
    `training=True`, like a Keras model: then a second tf.function, traced in training mode, runs."""

    training_function = None

    def __get__(self, instance, owner):
        bound = super().__get__(instance, owner)
        if instance is not None and self.training_function is not None:
            bound.training_function = self.training_function.__get__(instance, owner)
        return bound

    def __call__(self, *args, training=False, **kwargs):
        if training:
            return self.training_function(*args, **kwargs)
        if not kwargs and self.input_signature is not None:
            # With an input signature one concrete function serves every call: calling it
            # directly skips tf.function's per-call dispatch (about 80 µs on CPU, a third of a
            # small CNN's batch-1 call); inputs are bound and checked the same way.
            concrete = self.__dict__.get("_concrete")
            if concrete is None:
                concrete = self._concrete = self.get_concrete_function()
            return concrete(*args)
        return super().__call__(*args, **kwargs)


class _Untracked:
    def __init__(self, **values: Any):
        self.__dict__.update(values)


def _as_tensor(value: Any) -> Any:
    if value is None or isinstance(value, (tf.Tensor, tf.Variable, list)):
        return value
    return tf.convert_to_tensor(dtypes.carry_array(value))


def _as_output(value: Any) -> Any:
    value = layout.to_onnx(value)
    return tf.identity(value) if isinstance(value, tf.Variable) else value


def build_module(prepared: core.PreparedModel) -> ImportedModule:
    """An ImportedModule whose class carries `__call__` as a tf.function with this graph's signature."""
    inputs = {i.name: i for i in prepared.model.graph.input}
    taken: set[str] = set()
    specs = [_spec(inputs[name], taken) for name in prepared.graph.input_names]
    signature = None if any(spec is None for spec in specs) else specs

    def call(self, *inputs):
        return self.call_eager(*inputs)

    def call_training(self, *inputs):
        return self.call_eager(*inputs, training=True)

    # autograph off: control flow is already explicit (tf.cond / tf.while_loop in the handlers).
    options = {"input_signature": signature, "reduce_retracing": True, "autograph": False}
    function = _ModeFunction(call, "call", **options)
    function.training_function = tf.function(call_training, **options)
    cls = type("ImportedModel", (ImportedModule,), {"__call__": function})
    graph_name = tf_name(prepared.model.graph.name or "imported")
    return cls(prepared, name=graph_name)
