"""Reduced-precision ONNX variants: int8 dynamic, int8 static (QDQ), fp16 with float32 inputs and outputs.

int8 uses onnxruntime.quantization. fp16 uses onnxruntime's own float16 tool
(`onnxruntime.transformers.float16`), not onnxconverter-common: it is the same algorithm kept
up to date with onnxruntime's kernels, it ships with the runtime already installed, and its
`keep_io_types` and `node_block_list` are what `--keep-fp32` needs.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from toolkit.errors import InputError, UsageError
from toolkit.io import first_line

MODES = ("dynamic", "static", "fp16")


def quantize(
    model: onnx.ModelProto,
    mode: str,
    calibration: dict[str, np.ndarray] | None = None,
    per_channel: bool = False,
    keep_fp32: Sequence[str] = (),
    label: str = "model",
) -> onnx.ModelProto:
    """The `mode` variant of `model`, nodes named in `keep_fp32` left in float32."""
    if mode not in MODES:
        raise UsageError(f"--mode {mode}: choose one of {', '.join(MODES)}")
    names = {node.name for node in model.graph.node}
    unknown = [name for name in keep_fp32 if name not in names]
    if unknown:
        raise InputError(f"{label}: --keep-fp32 names no node called {', '.join(map(repr, unknown))}")
    if mode == "fp16":
        return _fp16(model, keep_fp32, label)
    keep_fp32 = with_consumers(model, keep_fp32)
    if mode == "static" and calibration is None:
        raise UsageError("static quantization needs calibration samples")
    with tempfile.TemporaryDirectory(prefix="toolkit-quantize-") as directory:
        source = Path(directory) / "float.onnx"
        target = Path(directory) / "quantized.onnx"
        onnx.save_model(_with_names(model), str(source))
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer logs advice on the root logger at every call
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _run_quantizer(mode, source, target, calibration, per_channel, list(keep_fp32))
        except (InputError, UsageError):
            raise
        except Exception as error:
            raise InputError(
                f"{label}: onnxruntime's {mode} quantizer failed: {type(error).__name__}: {first_line(error)}"
            ) from error
        finally:
            root.setLevel(level)
        return onnx.load(str(target))


def _run_quantizer(mode, source, target, calibration, per_channel, exclude) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if mode == "dynamic":
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            nodes_to_exclude=exclude,
        )
        return
    quantize_static(
        str(source),
        str(target),
        _Reader(calibration),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        nodes_to_exclude=exclude,
        # Symmetric int8 activations and weights: the form int8 kernels (and TensorRT) run fastest.
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over stacked samples, one row per call."""

    def __init__(self, samples: dict[str, np.ndarray]):
        from toolkit.calibration import batches

        self._feeds = iter(list(batches(samples, 1)))

    def get_next(self):
        return next(self._feeds, None)

    def rewind(self):  # pragma: no cover - onnxruntime calls it only for some calibrators
        pass


def _fp16(model: onnx.ModelProto, keep_fp32: Sequence[str], label: str) -> onnx.ModelProto:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert_float_to_float16(
                _with_names(model), keep_io_types=True, node_block_list=list(keep_fp32) or None
            )
    except Exception as error:
        raise InputError(
            f"{label}: onnxruntime's float16 converter failed: {type(error).__name__}: {first_line(error)}"
        ) from error


def with_consumers(model: onnx.ModelProto, nodes: Sequence[str]) -> list[str]:
    """`nodes` and the nodes reading their outputs: a value stays float only if no consumer quantizes it."""
    kept = list(nodes)
    outputs = {name for node in model.graph.node if node.name in set(nodes) for name in node.output}
    for node in model.graph.node:
        if node.name not in kept and any(name in outputs for name in node.input):
            kept.append(node.name)
    return kept


def _with_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose every node has a name: --keep-fp32 and the localisation name nodes."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    taken = {node.name for node in copy.graph.node if node.name}
    for index, node in enumerate(copy.graph.node):
        if not node.name:
            candidate = f"{node.op_type}_{index}"
            while candidate in taken:
                candidate += "_"
            node.name = candidate
            taken.add(candidate)
    return copy


def named(model: onnx.ModelProto) -> onnx.ModelProto:
    """The float model with the node names its variants use."""
    return _with_names(model)
