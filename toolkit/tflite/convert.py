"""ONNX → .tflite: the TensorFlow importer's module as a concrete function, then tf.lite.TFLiteConverter.

A dynamic batch is tried first; when TFLite cannot lower the graph that way (TensorList loops of
the RNNs, broadcasting selects) or LiteRT cannot prepare it, the batch is fixed and it converts again.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from toolkit.calibration import load_calibration
from toolkit.errors import InputError, UsageError
from toolkit.io import atomic_output, first_line
from toolkit.quiet import stderr_silenced
from toolkit.tflite import IO_LAYOUTS, PRECISIONS
from toolkit.tflite.metadata import Interface, attach

# The batch a graph gets when TFLite needs every shape static; edge devices run one sample at a time.
STATIC_BATCH = 1
# Ranks whose tensors are images (NCHW / NCDHW) and move channels last under --io-layout nhwc.
IMAGE_RANKS = (4, 5)


@dataclass
class Conversion:
    """What was written and how: the notes say which fallback happened."""

    flatbuffer: bytes
    interface: Interface
    seconds: float
    notes: list[str]


def convert_onnx(
    model: onnx.ModelProto,
    output: str | Path | None = None,
    precision: str = "fp32",
    calibration: str | Path | None = None,
    io_layout: str = "nchw",
    static_batch: int | None = None,
    label: str = "model",
) -> Conversion:
    """Convert an ONNX model to TFLite; write it atomically to `output` when given.

    The batch stays dynamic unless TFLite or LiteRT cannot take it so (then it is STATIC_BATCH);
    `static_batch` fixes it from the start.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    if io_layout not in IO_LAYOUTS:
        raise UsageError(f"--io-layout {io_layout}: choose one of {', '.join(IO_LAYOUTS)}")
    if calibration is not None and precision != "int8-full":
        raise UsageError(f"--calibration is for --precision int8-full (got {precision})")
    started = time.perf_counter()
    samples = None
    if precision == "int8-full":
        # Checked before any conversion: a wrong file is the user's to fix, and nothing is written.
        samples = load_calibration(model, calibration, purpose="int8-full")
    import toolkit

    module = toolkit.convert(model, to="tensorflow")
    notes: list[str] = []
    try:
        flatbuffer, interface = _convert(module, precision, io_layout, samples, static_batch, label)
    except _ConversionFailed as first_failure:
        if static_batch is not None:
            raise _explain(first_failure, model, label) from None
        try:
            flatbuffer, interface = _convert(module, precision, io_layout, samples, STATIC_BATCH, label)
        except _ConversionFailed as static_failure:
            raise _explain(static_failure, model, label) from None
        notes.append(f"static batch {STATIC_BATCH}: with a dynamic batch {first_failure.brief}")
    conversion = Conversion(flatbuffer, interface, time.perf_counter() - started, notes)
    if output is not None:
        with atomic_output(output) as temporary:
            temporary.write_bytes(flatbuffer)
    return conversion


class _ConversionFailed(Exception):
    def __init__(self, message: str, stage: str):
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.brief = f"{stage} failed ({_first_error(message)})"
        self.op_scopes: list[tuple[str, str]] = []


def _convert(module, precision, io_layout, samples, batch, label) -> tuple[bytes, Interface]:
    import tensorflow as tf

    from toolkit.importers.tensorflow.saved_model import signature_key

    specs, channels_last = _input_specs(module, io_layout, batch, label)
    output_keys = [signature_key(name) for name in module.output_names]
    to_channels_first = {
        i: [0, len(s.shape) - 1, *range(1, len(s.shape) - 1)]
        for i, (name, s) in enumerate(zip(module.input_names, specs, strict=True))
        if name in channels_last
    }

    @tf.function(input_signature=specs, autograph=False)
    def serving(*inputs):
        inputs = [
            tf.transpose(x, to_channels_first[i]) if i in to_channels_first else x
            for i, x in enumerate(inputs)
        ]
        # call_eager inside this function: the shapes of these specs reach every op (static where fixed).
        outputs = module.call_eager(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        result = {}
        for key, value in zip(output_keys, outputs, strict=True):
            if io_layout == "nhwc" and value.shape.rank in IMAGE_RANKS and value.dtype.is_floating:
                value = tf.transpose(value, [0, *range(2, value.shape.rank), 1])
            result[key] = value
        return result

    try:
        concrete = serving.get_concrete_function()
    except Exception as error:  # the importer cannot trace these shapes (a loop whose state changes shape)
        raise _ConversionFailed(str(error), "tracing") from error
    channels_last_outputs = [
        name
        for name, tensor in zip(module.output_names, concrete.structured_outputs.values(), strict=True)
        if io_layout == "nhwc" and tensor.shape.rank in IMAGE_RANKS and tensor.dtype.is_floating
    ]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    _set_precision(converter, precision, samples, specs, module.input_names, channels_last, batch)
    flatbuffer = _run_converter(converter, concrete)
    interface = Interface(
        inputs=list(module.input_names),
        input_keys=[spec.name for spec in specs],
        outputs=list(module.output_names),
        output_keys=output_keys,
        io_layout=io_layout,
        channels_last=[*channels_last, *channels_last_outputs],
        precision=precision,
        static_batch=batch,
    )
    flatbuffer = attach(flatbuffer, interface)
    _smoke_run(flatbuffer, specs, batch)
    return flatbuffer, interface


def _run_converter(converter, concrete) -> bytes:
    try:
        with stderr_silenced(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return converter.convert()
    except Exception as error:
        failure = _ConversionFailed(str(error), "conversion")
        # Op names of the traced graph carry the importer's scope: the ONNX node each op came from.
        failure.op_scopes = [(op.type, op.name) for op in concrete.graph.get_operations()]
        raise failure from error


def _input_specs(module, io_layout, batch, label) -> tuple[list, list[str]]:
    """The flatbuffer's input specs (batch fixed when asked, images channels-last for nhwc), and
    the names of the inputs turned channels-last."""
    import tensorflow as tf

    specs = []
    channels_last = []
    for name, spec in zip(module.input_names, module.input_specs, strict=True):
        if spec is None:
            raise InputError(f"{label}: input {name!r} is a sequence or optional; TFLite takes tensors only")
        shape = list(spec.shape) if spec.shape.rank is not None else None
        if shape is None:
            raise InputError(f"{label}: input {name!r} has an unknown rank; TFLite needs it")
        if batch is not None and shape and shape[0] is None:
            shape[0] = batch
        if io_layout == "nhwc" and len(shape) in IMAGE_RANKS and spec.dtype.is_floating:
            shape = [shape[0], *shape[2:], shape[1]]
            channels_last.append(name)
        specs.append(tf.TensorSpec(shape, spec.dtype, name=spec.name))
    return specs, channels_last


def _set_precision(converter, precision, samples, specs, input_names, channels_last, batch) -> None:
    import tensorflow as tf

    if precision == "fp32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8-full":
        # Every op in int8; the signature keeps the model's float inputs and outputs (quantized at the edge).
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        size = batch or 1

        def representative_dataset():
            count = len(next(iter(samples.values())))
            for start in range(0, count - size + 1, size):
                feeds = []
                for name, spec in zip(input_names, specs, strict=True):
                    value = samples[name][start : start + size]
                    if name in channels_last:
                        value = np.moveaxis(value, 1, -1)
                    feeds.append(np.ascontiguousarray(value, dtype=spec.dtype.as_numpy_dtype))
                yield feeds

        converter.representative_dataset = representative_dataset
    # "int8" alone: dynamic-range quantization, weights int8 and activations float.


def _smoke_run(flatbuffer: bytes, specs, batch) -> None:
    """LiteRT prepares and runs the model at two batch sizes (one when it is static)."""
    from ai_edge_litert.interpreter import Interpreter

    from toolkit.calibration import random_calibration

    sizes = [batch] if batch is not None else [1, 2]
    try:
        with stderr_silenced():
            runner = Interpreter(model_content=flatbuffer).get_signature_runner()
            for size in sizes:
                arrays = random_calibration(
                    [(s.name, np.dtype(s.dtype.as_numpy_dtype), tuple(s.shape)) for s in specs], size
                )
                runner(**arrays)
    except Exception as error:
        raise _ConversionFailed(str(error), "the LiteRT interpreter") from error


def _first_error(message: str) -> str:
    lines = [line.split("error:", 1)[1].strip() for line in message.splitlines() if "error:" in line]
    return lines[0] if lines else first_line(RuntimeError(message))


_NOT_LOWERED = re.compile(r"'(tf\.[A-Za-z0-9_]+)' op is neither a custom op nor a flex op")
_LOCATION = re.compile(r'fused\["([A-Za-z0-9_]+):", "([^"]+)"\]')
_NOT_INT8 = re.compile(r"'(tfl\.[A-Za-z0-9_]+)' op is not supported|quantiz", re.IGNORECASE)


def _explain(failure: _ConversionFailed, model: onnx.ModelProto, label: str) -> InputError:
    """One line: which ONNX node (and TF op) TFLite cannot lower, and which flag would allow it."""
    message = failure.message
    missing = _NOT_LOWERED.findall(message)
    if missing:
        ops = sorted(set(missing))
        nodes = _onnx_nodes_at(failure, model, {op.removeprefix("tf.") for op in ops})
        where = ", ".join(f'node "{n.name}" ({n.op_type})' for n in nodes) or "a node"
        return InputError(
            f"{label}: {where} becomes TensorFlow op(s) {', '.join(o.removeprefix('tf.') for o in ops)}, "
            "which TFLite's builtin ops cannot lower; converting with "
            "target_spec.supported_ops=[TFLITE_BUILTINS, SELECT_TF_OPS] would allow it "
            "(the runtime must then link the Flex delegate), or re-export without that operator"
        )
    if "tensor list" in message.lower() or "TensorList" in message:
        nodes = _onnx_nodes_at(failure, model, {"TensorListReserve", "TensorListSetItem"})
        where = ", ".join(f'node "{n.name}" ({n.op_type})' for n in nodes) or "a loop"
        return InputError(
            f"{label}: {where}: TFLite cannot lower its TensorList loop even with static shapes; "
            "SELECT_TF_OPS with _experimental_lower_tensor_list_ops=False would allow it (Flex delegate at run time)"
        )
    if failure.stage == "the LiteRT interpreter":
        return InputError(f"{label}: LiteRT cannot run the converted model: {_first_error(message)}")
    return InputError(f"{label}: TFLite conversion failed: {_first_error(message)}")


def _onnx_nodes_at(failure, model: onnx.ModelProto, tf_ops: set[str]) -> list[onnx.NodeProto]:
    """ONNX nodes whose importer name scope holds the failing TF ops (traced graph, else error locations)."""
    from toolkit.importers.core import python_name

    located = [*failure.op_scopes, *_LOCATION.findall(failure.message)]
    scopes = {scope.split("/")[0] for op, scope in located if op in tf_ops}
    found = []
    for node in model.graph.node:
        token = python_name(node.name or node.op_type)
        # tf.name_scope appends _1, _2 when a scope name repeats (a node traced twice).
        if any(scope == token or re.fullmatch(re.escape(token) + r"_\d+", scope) for scope in scopes):
            found.append(node)
    return found[:5]
