"""Keras / TensorFlow to ONNX with tf2onnx, from a frozen, inlined tf.function.

tf2onnx's own `from_keras` is broken with Keras 3, so every source is turned into one concrete
function first. Freezing turns variables into constants (else a normalisation layer's constants
become required graph inputs) and aggressive inlining removes nested StatefulPartitionedCall
nodes (else depthwise convolutions stay as calls that onnxruntime rejects).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from toolkit.errors import ExportError, InputError, UsageError
from toolkit.export.common import (
    ExportResult,
    check_exported,
    default_opset,
    name_dynamic_axes,
    quiet_exporter,
)
from toolkit.io import first_line
from toolkit.outputs import named_leaves
from toolkit.runners import keras_call_inputs
from toolkit.source_layers import annotate_keras_layers
from toolkit.sources import keras_input_names

EXPORTER = "tf2onnx"
DEFAULT_OPSET = 17
# tf2onnx 1.17 knows ai.onnx up to opset 18.
NEWEST_OPSET = 18
SERVING_SIGNATURE = "serving_default"
_CHATTY_LOGGERS = ("tf2onnx", "tensorflow", "absl", "keras")


@dataclass
class _Source:
    """A concrete function and the ONNX names its flat inputs and outputs should carry."""

    concrete_function: Any
    input_names: list[str]
    output_names: list[str] | None  # None: name them output_0..n
    # The object owning the variables: a function keeps only weak references to them.
    owner: Any = None
    # A trainable export: these trailing inputs are the model's variables, made initializers after.
    weights: list[tuple[str, np.ndarray]] | None = None


def export_tensorflow(
    model: Any,
    *,
    input_signature: Sequence[Any] | None = None,
    example_inputs: Sequence[np.ndarray] | None = None,
    opset: int | None = None,
    dynamic_batch: bool = True,
    trainable: bool = False,
) -> ExportResult:
    """Export a Keras model, tf.Module / SavedModel (object or directory) or tf.function to ONNX.

    The input signature comes from `input_signature`, else the Keras inputs, a SavedModel
    signature or the function's own signature, else `example_inputs`; axis 0 stays dynamic
    unless `dynamic_batch` is False. `trainable` (Keras models): every variable stays an
    initializer named after its path and BatchNormalization stays one node (keras_trainable.py).
    """
    import tensorflow as tf

    opset = opset or DEFAULT_OPSET
    if opset > NEWEST_OPSET:
        raise UsageError(f"tf2onnx exports up to opset {NEWEST_OPSET}; opset {opset} was asked for")
    examples = [np.asarray(value) for value in example_inputs] if example_inputs is not None else None
    with quiet_exporter(_CHATTY_LOGGERS):
        source = _concrete_source(model, input_signature, examples, dynamic_batch, trainable)
        onnx_model = _convert(source, opset, tf)
    if _is_keras_model(model):  # tf2onnx's op scopes carry tracing suffixes, not layer names
        annotate_keras_layers(onnx_model, model)
    name_dynamic_axes(onnx_model)
    check_exported(onnx_model, EXPORTER)
    return ExportResult(model=onnx_model, exporter=EXPORTER, opset=default_opset(onnx_model), notes=[])


def _concrete_source(model, input_signature, examples, dynamic_batch, trainable=False) -> _Source:
    """Whatever was given, as one concrete function with names for its inputs and outputs."""
    if isinstance(model, (str, os.PathLike)):
        model = _load_saved_model(Path(model))
    if trainable and not _is_keras_model(model):
        raise UsageError(
            "a trainable TensorFlow export needs a Keras model (its variables name the parameters)"
        )
    source = _dispatch(model, input_signature, examples, dynamic_batch, trainable)
    source.owner = model
    return source


def _dispatch(model, input_signature, examples, dynamic_batch, trainable=False) -> _Source:
    import tensorflow as tf

    if _is_keras_model(model):
        return _keras_source(model, input_signature, examples, dynamic_batch, trainable)
    if isinstance(model, tf.types.experimental.ConcreteFunction):
        return _function_source(model)
    if isinstance(model, tf.types.experimental.PolymorphicFunction):
        return _function_source(_concretise(model, input_signature, examples, dynamic_batch))
    signatures = getattr(model, "signatures", None)
    if input_signature is None and examples is None and signatures and SERVING_SIGNATURE in signatures:
        return _function_source(signatures[SERVING_SIGNATURE])
    call = model.__call__ if callable(model) else None
    if isinstance(call, tf.types.experimental.PolymorphicFunction):
        return _function_source(_concretise(call, input_signature, examples, dynamic_batch))
    if signatures:
        return _function_source(signatures[next(iter(signatures))])
    raise UsageError(
        f"cannot export a {type(model).__name__} with tf2onnx: give a Keras model, a tf.function, "
        "or a tf.Module / SavedModel with a signature or a tf.function __call__"
    )


def _load_saved_model(path: Path):
    import tensorflow as tf

    if not (path / "saved_model.pb").exists():
        raise InputError(f"{path}: not a SavedModel directory (no saved_model.pb)")
    try:
        return tf.saved_model.load(str(path))
    except Exception as error:
        raise InputError(f"{path}: TensorFlow cannot load the SavedModel: {first_line(error)}") from error


def _is_keras_model(model) -> bool:
    try:
        import keras
    except ImportError:
        return False
    return isinstance(model, keras.Model)


def _keras_source(keras_model, input_signature, examples, dynamic_batch, trainable=False) -> _Source:
    import tensorflow as tf

    if input_signature is not None:
        specs = list(input_signature)
    elif examples is not None:
        specs = _specs_from_examples(examples, _keras_input_names(keras_model), dynamic_batch)
    else:
        if not getattr(keras_model, "inputs", None):
            raise UsageError(
                "the Keras model has no defined inputs (subclassed and never built): give example_inputs"
            )
        specs = [
            tf.TensorSpec((None if dynamic_batch else 1, *tuple(tensor.shape[1:])), tensor.dtype, name=name)
            for tensor, name in zip(keras_model.inputs, _keras_input_names(keras_model), strict=True)
        ]

    call_inputs = keras_call_inputs(keras_model)

    def call(*inputs):
        return keras_model(call_inputs(inputs), training=False)

    weights = None
    if trainable:
        from toolkit.export import keras_trainable

        weight_specs = keras_trainable.weight_specs(keras_model)
        input_count = len(specs)
        weights = list(
            zip(
                keras_trainable.variable_paths(keras_model),
                keras_trainable.variable_values(keras_model),
                strict=True,
            )
        )

        def call(*inputs):  # noqa: F811  (the same model, its variables as arguments)
            return keras_trainable.stateless_call(
                keras_model, call_inputs(inputs[:input_count]), inputs[input_count:]
            )

        specs = [*specs, *weight_specs]
    concrete_function = tf.function(call, input_signature=specs).get_concrete_function()
    structured = concrete_function.structured_outputs
    if isinstance(structured, dict):
        # tf.nest flattens dicts in sorted key order; the leaves are named by their keys.
        output_names = [name for name, _ in named_leaves(structured, sort_keys=True)]
    else:
        output_names = list(getattr(keras_model, "output_names", None) or [])
    count = len(tf.nest.flatten(structured))
    input_names = [spec.name or f"input_{index}" for index, spec in enumerate(specs)]
    if weights:
        input_names[len(input_names) - len(weights) :] = [name for name, _ in weights]
    return _Source(
        concrete_function,
        input_names,
        output_names if len(output_names) == count and len(set(output_names)) == count else None,
        weights=weights,
    )


def _keras_input_names(keras_model) -> list[str] | None:
    """Dict keys, or the InputLayer names ("image", or "input_layer" when unnamed, not "keras_tensor_182")."""
    return keras_input_names(keras_model)


def _specs_from_examples(examples, names, dynamic_batch) -> list:
    import tensorflow as tf

    if names is None or len(names) != len(examples):
        names = [f"input_{index}" for index in range(len(examples))]
    return [
        tf.TensorSpec(
            (None, *example.shape[1:]) if dynamic_batch and example.ndim else example.shape,
            tf.as_dtype(example.dtype),
            name=name,
        )
        for example, name in zip(examples, names, strict=True)
    ]


def _concretise(function, input_signature, examples, dynamic_batch):
    """A concrete function of a tf.function, from the given, its own, or the examples' signature."""
    if input_signature is not None:
        return function.get_concrete_function(*input_signature)
    if getattr(function, "input_signature", None) is not None:
        return function.get_concrete_function()
    if examples is not None:
        return function.get_concrete_function(*_specs_from_examples(examples, None, dynamic_batch))
    raise UsageError("the tf.function has no input_signature: give input_signature or example_inputs")


def _function_source(concrete_function) -> _Source:
    """Names from the function itself: signature keys for inputs and dict outputs."""
    import tensorflow as tf

    specs = [
        spec
        for spec in tf.nest.flatten(concrete_function.structured_input_signature)
        if isinstance(spec, tf.TensorSpec)
    ]
    input_names = [spec.name or f"input_{index}" for index, spec in enumerate(specs)]
    structured = concrete_function.structured_outputs
    output_names = sorted(structured) if isinstance(structured, dict) else None
    return _Source(concrete_function, input_names, output_names)


def _convert(source: _Source, opset: int, tf) -> onnx.ModelProto:
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    try:
        frozen = convert_variables_to_constants_v2(
            source.concrete_function, lower_control_flow=False, aggressive_inlining=True
        )
    except Exception as error:
        raise ExportError(f"tf2onnx: cannot freeze the function's variables: {first_line(error)}") from error
    graph_inputs = [tensor.name for tensor in frozen.inputs if tensor.dtype != tf.dtypes.resource]
    graph_outputs = [tensor.name for tensor in frozen.outputs]
    if len(graph_inputs) != len(source.input_names):
        raise ExportError(
            f"tf2onnx: the frozen function takes {len(graph_inputs)} input(s), the signature names "
            f"{len(source.input_names)}"
        )
    output_names = source.output_names or [f"output_{index}" for index in range(len(graph_outputs))]
    if len(output_names) != len(graph_outputs):
        output_names = [f"output_{index}" for index in range(len(graph_outputs))]
    renames = dict(zip(graph_inputs, source.input_names, strict=True))
    renames.update(zip(graph_outputs, output_names, strict=True))
    try:
        graph_def = rewrite_erfc(inline_function_calls(frozen.graph.as_graph_def(add_shapes=True)))
        with tf.device("/cpu:0"):
            onnx_model, _ = tf2onnx.convert.from_graph_def(
                graph_def,
                name=getattr(source.concrete_function, "name", None),
                input_names=graph_inputs,
                output_names=graph_outputs,
                opset=opset,
                tensors_to_rename=renames,
                custom_op_handlers=_trainable_handlers() if source.weights else None,
            )
    except Exception as error:
        raise ExportError(f"tf2onnx cannot convert the model: {first_line(error)}") from error
    if source.weights:
        from toolkit.export import keras_trainable

        names, values = zip(*source.weights, strict=True)
        onnx_model = keras_trainable.weights_to_initializers(onnx_model, names, values, source.owner)
    return onnx_model


def _trainable_handlers() -> dict:
    from toolkit.export import keras_trainable

    return dict(keras_trainable.TF2ONNX_HANDLERS)


_CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")


def inline_function_calls(graph_def):
    """The graph with every remaining function call replaced by the function's body.

    Grappler's aggressive inlining skips functions compiled with XLA: Keras 3 runs grouped
    convolutions (ConvNeXt's depthwise convolutions) through a `tf.function(jit_compile=True)`,
    which would stay a StatefulPartitionedCall that no ONNX runtime knows. Each call becomes
    Identity nodes for its arguments, the body's nodes under the call's name, and an IdentityN
    named like the call, so `call:i` still names output i.
    """
    from tensorflow.core.framework import graph_pb2, node_def_pb2
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

    functions = {function.signature.name: function for function in graph_def.library.function}
    for _ in range(64):  # nested calls unfold one level per pass
        calls = [n for n in graph_def.node if n.op in _CALL_OPS and n.attr["f"].func.name in functions]
        if not calls:
            return graph_def
        inlined = graph_pb2.GraphDef()
        inlined.versions.CopyFrom(graph_def.versions)
        inlined.library.CopyFrom(graph_def.library)
        for node in graph_def.node:
            if node not in calls:
                inlined.node.add().CopyFrom(node)
                continue
            function = functions[node.attr["f"].func.name]
            body, tensor_names = function_def_to_graph_def(function)
            prefix = node.name + "/inlined/"
            arguments = [a.name for a in function.signature.input_arg]
            data_inputs = [i for i in node.input if not i.startswith("^")]
            control_inputs = [i for i in node.input if i.startswith("^")]
            for body_node in body.node:
                copy = inlined.node.add()
                copy.CopyFrom(body_node)
                copy.name = prefix + body_node.name
                if body_node.op == "Placeholder" and body_node.name in arguments:
                    copy.op = "Identity"
                    copy.ClearField("input")
                    copy.input.append(data_inputs[arguments.index(body_node.name)])
                    copy.input.extend(control_inputs)
                    dtype = copy.attr["dtype"]
                    copy.attr["T"].CopyFrom(dtype)
                    for key in ("dtype", "shape", "_user_specified_name"):
                        if key in copy.attr:
                            del copy.attr[key]
                    continue
                del copy.input[:]
                for source in body_node.input:
                    control = source.startswith("^")
                    copy.input.append(("^" if control else "") + prefix + source.lstrip("^"))
            outputs = node_def_pb2.NodeDef(name=node.name, op="IdentityN")
            for argument in function.signature.output_arg:
                inner = tensor_names.get(function.ret[argument.name], function.ret[argument.name])
                outputs.input.append(prefix + inner)
            outputs.attr["T"].list.type.extend([a.type for a in function.signature.output_arg])
            inlined.node.add().CopyFrom(outputs)
        graph_def = inlined
    raise ExportError("tf2onnx: function calls nest more than 64 levels deep; cannot inline them")


def rewrite_erfc(graph_def):
    """Erfc(x) as 1 - Erf(x): tf2onnx 1.17 has no Erfc, which Keras 3's exact GELU uses (ConvNeXt)."""
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.python.framework import dtypes, tensor_util

    if not any(node.op == "Erfc" for node in graph_def.node):
        return graph_def
    nodes = []
    for node in graph_def.node:
        if node.op != "Erfc":
            nodes.append(node)
            continue
        dtype = node.attr["T"].type
        erf = node_def_pb2.NodeDef(name=node.name + "/erf", op="Erf", input=[node.input[0]])
        erf.attr["T"].type = dtype
        one = node_def_pb2.NodeDef(name=node.name + "/one", op="Const")
        one.attr["dtype"].type = dtype
        one.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(1, dtypes.as_dtype(dtype), []))
        difference = node_def_pb2.NodeDef(name=node.name, op="Sub", input=[one.name, erf.name])
        difference.attr["T"].type = dtype
        nodes.extend([erf, one, difference])
    del graph_def.node[:]
    graph_def.node.extend(nodes)
    return graph_def


def _strip(name: str) -> str:
    """A TensorFlow tensor name without its ":0" output index."""
    return name.split(":")[0]
