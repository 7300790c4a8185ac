"""ONNX → TFLite through the toolkit's own TensorFlow importer, checked with the LiteRT interpreter.

`convert.py` builds the TFLite flatbuffer (fp32, fp16, int8 dynamic range, full int8),
`metadata.py` records the ONNX input and output names and their order inside it, and
`runner.py` runs a `.tflite` file with LiteRT's signature runner in that order.
TensorFlow is imported only by `convert`; running needs only `ai-edge-litert`.
"""

from __future__ import annotations

PRECISIONS = ("fp32", "fp16", "int8", "int8-full")
IO_LAYOUTS = ("nchw", "nhwc")

__all__ = ["PRECISIONS", "IO_LAYOUTS", "convert_onnx"]


def convert_onnx(*args, **kwargs):
    """See toolkit.tflite.convert.convert_onnx."""
    from toolkit.tflite.convert import convert_onnx as convert

    return convert(*args, **kwargs)
