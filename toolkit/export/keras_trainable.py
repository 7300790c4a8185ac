"""A Keras model traced for a trainable export: every variable an initializer named after its path.

Freezing variables into constants lets TensorFlow's grappler and tf2onnx fold them: zero biases
vanish, BatchNormalization becomes one Mul, so the import has fewer parameters than the source.
Here the model runs through `stateless_call`, its variables are inputs of the traced function
(nothing to fold), and after conversion those inputs become initializers named "conv2d/kernel",
so the import's parameters map back to the source by name. BatchNormalization is traced as
TensorFlow's fused op, which tf2onnx writes as an ONNX BatchNormalization node, whose running
statistics the importers then treat as state; its Keras momentum is written onto the node.

Keras drops Dropout when it traces with `training=False`, and a trace with `training=True`
would put batch statistics and random ops in the graph. So each Dropout is traced as a marked
CheckNumerics (an identity that survives freezing and grappler), and tf2onnx turns the marked
ones into ONNX Dropout nodes with the layer's rate: onnxruntime runs them as identities, the
importers apply them in training mode, as they do for torch.onnx's training export.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from toolkit.export.trainable import only_source_initializers

KERAS_WEIGHTS_KEY = "toolkit.keras_weights"  # {initializer: dataset path in the model's .weights.h5}


def weight_specs(keras_model) -> list:
    """A TensorSpec per variable (trainable first, as stateless_call takes them), named by path."""
    import tensorflow as tf

    variables = [*keras_model.trainable_variables, *keras_model.non_trainable_variables]
    return [tf.TensorSpec(v.shape, v.dtype, name=_spec_name(v.path, i)) for i, v in enumerate(variables)]


def variable_paths(keras_model) -> list[str]:
    variables = [*keras_model.trainable_variables, *keras_model.non_trainable_variables]
    return _unique([v.path for v in variables])


def variable_values(keras_model) -> list[np.ndarray]:
    variables = [*keras_model.trainable_variables, *keras_model.non_trainable_variables]
    return [np.asarray(v.numpy()) for v in variables]


def stateless_call(keras_model, inputs: Any, weights: Sequence[Any]):
    """The model's inference output as a pure function of its inputs (as the model takes them:
    a tensor, a list or a dict) and weights."""
    count = len(keras_model.trainable_variables)
    with fused_batch_normalization(), marked_dropout():
        outputs, _ = keras_model.stateless_call(
            list(weights[:count]),
            list(weights[count:]),
            inputs,
            training=False,
        )
    return outputs


@contextlib.contextmanager
def fused_batch_normalization() -> Iterator[None]:
    """While tracing, keras.ops.batch_normalization over the last axis is TF's FusedBatchNormV3."""
    import keras.src.ops as keras_ops
    import tensorflow as tf

    original = keras_ops.batch_normalization

    def fused(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
        rank = len(x.shape)
        if axis % rank != rank - 1 or rank < 2 or x.dtype != tf.float32:
            return original(x, mean, variance, axis, offset=offset, scale=scale, epsilon=epsilon)
        channels = x.shape[-1]
        scale = tf.ones([channels], x.dtype) if scale is None else scale
        offset = tf.zeros([channels], x.dtype) if offset is None else offset
        # The fused op takes NHWC: other ranks fold every non-channel axis into N (same statistics).
        y = x if rank == 4 else tf.reshape(x, [-1, 1, 1, channels])
        y, *_ = tf.compat.v1.nn.fused_batch_norm(
            y, scale, offset, mean, variance, epsilon=epsilon, is_training=False
        )
        return y if rank == 4 else tf.reshape(y, tf.shape(x))

    keras_ops.batch_normalization = fused
    try:
        yield
    finally:
        keras_ops.batch_normalization = original


DROPOUT_MARK = "toolkit.dropout:"  # CheckNumerics message: the mark, then the rate


@contextlib.contextmanager
def marked_dropout() -> Iterator[None]:
    """While tracing, a Keras Dropout (no noise_shape) is CheckNumerics(x, "toolkit.dropout:RATE")."""
    import keras
    import tensorflow as tf

    original = keras.layers.Dropout.call

    def marked(self, inputs, training=False):
        if self.rate > 0 and self.noise_shape is None and inputs.dtype.is_floating:
            return tf.debugging.check_numerics(inputs, f"{DROPOUT_MARK}{float(self.rate)!r}")
        return original(self, inputs, training=training)

    keras.layers.Dropout.call = marked
    try:
        yield
    finally:
        keras.layers.Dropout.call = original


def _dropout_or_identity(ctx, node, name, args):
    """tf2onnx handler for CheckNumerics: a marked one is an ONNX Dropout, any other an Identity."""
    message = node.get_attr_str("message") if node.get_attr("message") else ""
    for attribute in list(node.attr):
        del node.attr[attribute]
    if message.startswith(DROPOUT_MARK):
        # ONNX Dropout, opset 12: the ratio is input 1 (default 0.5), no longer an attribute.
        ratio = np.array(float(message[len(DROPOUT_MARK) :]), np.float32)
        constant = ctx.make_const(f"{node.name}/ratio", ratio)
        node.type = "Dropout"
        ctx.replace_inputs(node, [node.input[0], constant.output[0]])
    else:
        node.type = "Identity"
    return node


TF2ONNX_HANDLERS = {"CheckNumerics": (_dropout_or_identity, [])}


def weights_to_initializers(
    model: onnx.ModelProto, names: Sequence[str], values: Sequence[np.ndarray], keras_model
) -> onnx.ModelProto:
    """Graph inputs `names` become initializers with `values`; BatchNormalization gets Keras's momentum."""
    given = dict(zip(names, values, strict=True))
    kept = [graph_input for graph_input in model.graph.input if graph_input.name not in given]
    used = {name for node in model.graph.node for name in node.input}
    del model.graph.input[:]
    model.graph.input.extend(kept)
    for name, value in given.items():
        if name in used:  # unused variables (a Dropout's seed state) are left out
            model.graph.initializer.append(numpy_helper.from_array(value, name))
    count = len(keras_model.trainable_variables)  # trainable first, as weight_specs orders them
    only_source_initializers(model, names[:count], names[count:])
    keys = h5_keys(keras_model)
    paths = dict(zip(variable_paths(keras_model), _all_variables(keras_model), strict=True))
    h5 = {name: keys[id(variable)] for name, variable in paths.items() if id(variable) in keys}
    model.metadata_props.append(onnx.StringStringEntryProto(key=KERAS_WEIGHTS_KEY, value=json.dumps(h5)))
    momentum = _batch_norm_momenta(keras_model)
    for node in model.graph.node:
        if node.op_type == "BatchNormalization" and len(node.input) > 3 and node.input[3] in momentum:
            for attribute in list(node.attribute):
                if attribute.name == "momentum":
                    node.attribute.remove(attribute)
            node.attribute.append(helper.make_attribute("momentum", float(momentum[node.input[3]])))
    return model


def _all_variables(keras_model) -> list:
    return [*keras_model.trainable_variables, *keras_model.non_trainable_variables]


def h5_keys(keras_model) -> dict[int, str]:
    """{id(variable): its dataset in the model's .weights.h5}, recorded by Keras's own saver walk."""
    from keras.src.saving import saving_lib

    keys: dict[int, str] = {}

    class _Recorder(saving_lib.NpzIOStore):
        def __init__(self):  # no file: only the paths Keras would write
            pass

        def make(self, path, metadata=None):
            recorder = self

            class _Entry(dict):
                def __setitem__(self, index, variable):
                    keys[id(variable)] = "/".join(p for p in (path, "vars", str(index)) if p)

            del recorder
            return _Entry()

    saving_lib._save_state(keras_model, _Recorder(), None, "", set())
    return keys


def _batch_norm_momenta(keras_model) -> dict[str, float]:
    """{moving_mean variable path: momentum} for every Keras BatchNormalization, nested ones too."""
    import keras

    found = {}
    for layer in keras_model._flatten_layers(include_self=False, recursive=True):
        if (
            isinstance(layer, keras.layers.BatchNormalization)
            and getattr(layer, "moving_mean", None) is not None
        ):
            found[layer.moving_mean.path] = layer.momentum
    return found


def _spec_name(path: str, index: int) -> str:
    # tf.TensorSpec names allow no "/" at the start of a scope: a safe, unique placeholder name.
    return f"toolkit_weight_{index}"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        result.append(name if count == 0 else f"{name}_{count}")
    return result
