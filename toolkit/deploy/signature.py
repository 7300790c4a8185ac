"""A model's graph inputs and outputs as an engine sees them: names, ONNX element types, dims."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

from toolkit.errors import InputError
from toolkit.io import load_onnx


@dataclass(frozen=True)
class Tensor:
    name: str
    elem_type: int  # onnx.TensorProto.DataType
    dims: tuple[int, ...]  # -1 for a dynamic axis

    @property
    def batch_is_dynamic(self) -> bool:
        return bool(self.dims) and self.dims[0] == -1


@dataclass(frozen=True)
class Signature:
    path: Path
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def batch_is_dynamic(self) -> bool:
        """True when every input and output has a dynamic first axis, so an engine may batch on it."""
        return all(tensor.batch_is_dynamic for tensor in self.inputs + self.outputs)


def _tensor(path: Path, value: onnx.ValueInfoProto) -> Tensor:
    if not value.type.HasField("tensor_type"):
        raise InputError(
            f"{path}: graph input/output {value.name!r} is not a tensor; engines serve tensors only"
        )
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        raise InputError(f"{path}: {value.name!r} has no shape (unknown rank); re-export with shapes")
    dims = tuple(dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor_type.shape.dim)
    return Tensor(value.name, tensor_type.elem_type, dims)


def read_signature(path: str | Path) -> Signature:
    path = Path(path)
    graph = load_onnx(path, load_external_data=False).graph
    initializers = {initializer.name for initializer in graph.initializer}
    inputs = tuple(_tensor(path, value) for value in graph.input if value.name not in initializers)
    outputs = tuple(_tensor(path, value) for value in graph.output)
    if not outputs:
        raise InputError(f"{path}: the graph has no outputs")
    return Signature(path, inputs, outputs)
