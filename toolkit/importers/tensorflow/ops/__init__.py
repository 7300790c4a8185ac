"""The TensorFlow operator table: handlers named after ONNX operators, grouped by family.

Families, named as in the torch table: control_flow (If/Loop/Scan, sequences, optionals, Gradient),
deform_conv, detection, elementwise, grid_sample, image (ImageDecoder), math (reductions, softmax), ml (ai.onnx.ml on
numbers), nn, optimizers (training steps), quantization, resize, rnn, roi_align, signal, strings
(StringSplit, LabelEncoder), tensor. ONNX's rules themselves live in
toolkit/importers/semantics/, shared with the torch table.

`register` is the core's `OperatorTable.register` plus how the handler treats layout tags
(see layout.py): "onnx" handlers (the default) see every value in ONNX layout; "elementwise"
handlers are layout-agnostic and propagate a channels-last tag; "any" handlers see the tags
themselves (convolutions, pooling, Shape, Identity); "matrix" handlers (MatMul, Gemm) also see a
flatten kept channels-last and the weight stored to match it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import onnx

from toolkit.importers import common, core
from toolkit.importers.tensorflow import layout

table = core.OperatorTable("tensorflow")
# Op types whose handlers keep a channels-last input's tag on their output (layout.py's plan
# foresees which values are held channels-last from these).
TAG_KEEPING_OPS: set[str] = {"BatchNormalization"}
# Element types TensorFlow has no dtype for would be reported in the up-front scan: since TF 2.21
# every small float and integer ONNX defines is native or carried (see dtypes.py).


def register(
    op_type: str,
    since: int = 1,
    domain: str = core.ONNX_DOMAIN,
    check: Callable | None = None,
    layout_mode: str = "onnx",
) -> Callable[[Callable], Callable]:
    def decorate(function: Callable) -> Callable:
        if layout_mode == "matrix":  # MatMul/Gemm: see folded flattens and weights (layout.py)
            wrapped = function
        elif layout_mode == "any":

            @functools.wraps(function)
            def wrapped(*arguments, **keywords):
                return function(*[layout.tagged_for_any(a) for a in arguments], **keywords)

        elif layout_mode == "elementwise":
            TAG_KEEPING_OPS.add(op_type)

            @functools.wraps(function)
            def wrapped(*arguments, **keywords):
                return _one_sequence(layout.elementwise(function, arguments, keywords))

        else:

            @functools.wraps(function)
            def wrapped(*arguments, **keywords):
                return _one_sequence(function(*[layout.to_onnx(a) for a in arguments], **keywords))

        table.register(op_type, since=since, domain=domain, check=check)(wrapped)
        return function

    return decorate


def _one_sequence(result):
    """A handler returning one ONNX sequence (a Python list) returns one output, not several."""
    return (result,) if isinstance(result, list) else result


def load_all() -> core.OperatorTable:
    """Import every family module (each registers its handlers) and return the table."""
    from toolkit.importers.tensorflow.ops import (  # noqa: F401
        attention,
        control_flow,
        deform_conv,
        detection,
        elementwise,
        grid_sample,
        image,
        math,
        ml,
        nn,
        optimizers,
        quantization,
        resize,
        rnn,
        roi_align,
        signal,
        strings,
        tensor,
    )

    return table


def tf_dtype(element_type: int):
    """The tf.DType of an ONNX element type."""
    import tensorflow as tf

    if element_type == onnx.TensorProto.STRING:
        return tf.string
    if element_type == onnx.TensorProto.BFLOAT16:
        return tf.bfloat16
    from toolkit.importers.tensorflow import dtypes

    if element_type in dtypes.NATIVE_FLOAT8_DTYPES:
        return dtypes.NATIVE_FLOAT8_DTYPES[element_type]
    if element_type in dtypes.CARRIERS:
        return tf.as_dtype(dtypes.CARRIERS[element_type])
    return tf.as_dtype(common.onnx_to_numpy_dtype(element_type))


def known(value, what: str = "this input"):
    """A build-time value as numpy (a constant, a folded value, an eager tensor), or raise.

    Raises when the value is only known at run time (a graph input under tf.function); handlers
    that can take such a value use `maybe_known` (the value or None, as in the torch table) and a
    TF-op path instead.
    """
    static = maybe_known(value)
    if static is None and value is not None:
        raise ValueError(f"{what} must be known when the graph is built, not only at run time")
    return static


def maybe_known(value):
    """The value as numpy when it is known while building (constant, eager tensor), else None."""
    import numpy as np
    import tensorflow as tf

    if value is None or isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple, int, float)):
        return np.asarray(value)
    if isinstance(value, tf.Variable):
        # A float initializer used as Resize scales and the like: its current value, read outside the trace.
        with tf.init_scope():
            return value.numpy()
    static = tf.get_static_value(_outside_value(value))
    return None if static is None else np.asarray(static)


def _outside_value(value):
    """The tensor a tf.function body captured (a loop body reading an outer constant sees a placeholder)."""
    while getattr(value, "op", None) is not None and value.op.type == "Placeholder":
        captured = {id(inside): outside for outside, inside in getattr(value.graph, "captures", ())}
        if id(value) not in captured:
            break
        value = captured[id(value)]
    return value


def axes_tensor(axes, rank: int):
    """Run-time axes as a non-negative int32 vector (ONNX allows counting from the end)."""
    import tensorflow as tf

    return tf.math.floormod(tf.reshape(tf.cast(axes, tf.int32), [-1]), rank)
