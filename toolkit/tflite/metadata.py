"""The ONNX interface of a .tflite file: names, order and layout, kept in the flatbuffer's metadata.

TFLite signatures key inputs and outputs by name in sorted order and only accept TensorFlow's
alphabet; the ONNX names, their order and the device layout travel beside them under one key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

METADATA_KEY = "toolkit.onnx_interface"


@dataclass
class Interface:
    """ONNX names in graph order, the signature key of each, and the layout of the device tensors."""

    inputs: list[str]
    input_keys: list[str]
    outputs: list[str]
    output_keys: list[str]
    io_layout: str = "nchw"
    # Inputs/outputs given to the device channels-last (their ONNX tensor is channels-first).
    channels_last: list[str] = field(default_factory=list)
    precision: str = "fp32"
    static_batch: int | None = None


def attach(flatbuffer: bytes, interface: Interface) -> bytes:
    """The flatbuffer with `interface` stored under METADATA_KEY."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    buffer = flatbuffer_utils.BufferT()
    buffer.data = np.frombuffer(json.dumps(asdict(interface)).encode(), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = flatbuffer_utils.schema_fb.MetadataT()
    entry.name = METADATA_KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read(flatbuffer: bytes) -> Interface | None:
    """The stored interface, or None for a .tflite file written by another tool."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    for index in range(model.MetadataLength()):
        entry = model.Metadata(index)
        if entry.Name() and entry.Name().decode() == METADATA_KEY:
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return Interface(**json.loads(bytes(data).decode()))
    return None
