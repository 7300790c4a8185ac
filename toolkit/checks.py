"""Checks an ONNX model passes before any work: a malformed graph is the user's input error (exit 2)
naming the node, never a KeyError deep inside an importer.

Order: structure first (outputs, opsets, a topological check naming the node, initializer sizes),
then `onnx.checker.check_model(full_check=True)` for everything else the spec says.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import onnx
from onnx import helper

from toolkit.errors import InputError
from toolkit.io import EXTERNAL_DATA_THRESHOLD, first_line, has_external_data, weight_bytes

OLDEST_OPSET = 1
# Element types packed two to a byte (ONNX 1.16+: INT4, UINT4; 1.18+: FLOAT4E2M1).
_PACKED_4BIT = {
    getattr(onnx.TensorProto, name)
    for name in ("INT4", "UINT4", "FLOAT4E2M1")
    if hasattr(onnx.TensorProto, name)
}


def newest_opset() -> int:
    """The newest ai.onnx opset this onnx knows: toolkit can neither check nor produce a newer one."""
    return onnx.defs.onnx_opset_version()


def check_model(model: onnx.ModelProto, label: str, path: str | os.PathLike | None = None) -> None:
    """Raise one InputError for the first problem found; return None for a model fit to convert."""
    graph = model.graph
    if not graph.output:
        raise InputError(f"{label}: the graph has no outputs; a model must declare at least one graph output")
    _check_opsets(model, label)
    _check_topology(graph, label, outer=set())
    for tensor in _initializers(graph):
        _check_tensor_size(tensor, label)
    _run_checker(model, label, path)


def _check_opsets(model: onnx.ModelProto, label: str) -> None:
    for entry in model.opset_import:
        if entry.domain not in ("", "ai.onnx"):
            continue
        if entry.version < OLDEST_OPSET or entry.version > newest_opset():
            raise InputError(
                f"{label}: imports ai.onnx opset {entry.version}; toolkit reads opsets {OLDEST_OPSET} to "
                f"{newest_opset()} (re-export with a supported opset)"
            )


def _describe(node: onnx.NodeProto, index: int) -> str:
    return f'node "{node.name or f"#{index}"}" ({node.op_type})'


def _check_topology(graph: onnx.GraphProto, label: str, outer: set[str]) -> None:
    """Every node input defined, no tensor produced twice, no cycle; recursing into subgraphs."""
    defined = set(outer) | {value.name for value in graph.input} | {t.name for t in _initializers(graph)}
    producer: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        for name in node.output:
            if not name:
                continue
            if name in producer or name in defined - outer:
                other = producer.get(name)
                by = (
                    _describe(graph.node[other], other)
                    if other is not None
                    else "a graph input or initializer"
                )
                raise InputError(
                    f'{label}: {_describe(node, index)}: output "{name}" is already produced by {by}; '
                    "every tensor must have one producer"
                )
            producer[name] = index
    for index, node in enumerate(graph.node):
        for name in node.input:
            if name and name in node.output:
                raise InputError(
                    f'{label}: {_describe(node, index)} reads its own output "{name}" (a self-loop)'
                )
            if name and name not in defined and name not in producer:
                raise InputError(
                    f'{label}: {_describe(node, index)}: input "{name}" is not a graph input, an initializer '
                    "or the output of any node"
                )
    _check_acyclic(graph, label, defined, producer)
    for value in graph.output:
        if value.name not in defined and value.name not in producer:
            raise InputError(f'{label}: graph output "{value.name}" is not produced by any node or input')
    visible = defined | set(producer)
    for index, node in enumerate(graph.node):
        for attribute in node.attribute:
            for subgraph in _subgraphs(attribute):
                try:
                    _check_topology(subgraph, label, outer=visible)
                except InputError as error:
                    raise InputError(
                        f"{error} (in the {attribute.name!r} subgraph of {_describe(node, index)})"
                    ) from None


def _check_acyclic(graph: onnx.GraphProto, label: str, defined: set[str], producer: dict[str, int]) -> None:
    """Kahn's algorithm over the node graph; a node never freed sits on (or behind) a cycle."""
    waiting = []
    consumers: dict[int, list[int]] = {}
    for index, node in enumerate(graph.node):
        sources = {producer[name] for name in node.input if name and name not in defined and name in producer}
        sources |= {
            producer[name] for name in _implicit_inputs(node) if name not in defined and name in producer
        }
        waiting.append(len(sources))
        for source in sources:
            consumers.setdefault(source, []).append(index)
    ready = [index for index, count in enumerate(waiting) if count == 0]
    freed = 0
    while ready:
        index = ready.pop()
        freed += 1
        for consumer in consumers.get(index, ()):
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    if freed < len(graph.node):
        stuck = next(index for index, count in enumerate(waiting) if count > 0)
        node = graph.node[stuck]
        raise InputError(
            f"{label}: {_describe(node, stuck)} is on a cycle (its inputs depend on its own outputs); "
            "an ONNX graph must be acyclic"
        )


def _implicit_inputs(node: onnx.NodeProto) -> set[str]:
    """Outer-scope names a node's subgraphs read (If/Loop/Scan bodies): real dependencies for ordering."""
    names: set[str] = set()
    for attribute in node.attribute:
        for subgraph in _subgraphs(attribute):
            local = {v.name for v in subgraph.input} | {t.name for t in _initializers(subgraph)}
            local |= {name for n in subgraph.node for name in n.output}
            names |= {name for n in subgraph.node for name in n.input if name and name not in local}
            names |= {name for n in subgraph.node for name in _implicit_inputs(n)} - local
    return names


def _subgraphs(attribute: onnx.AttributeProto) -> Iterable[onnx.GraphProto]:
    if attribute.type == onnx.AttributeProto.GRAPH:
        yield attribute.g
    elif attribute.type == onnx.AttributeProto.GRAPHS:
        yield from attribute.graphs


def _initializers(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    return [*graph.initializer, *(sparse.values for sparse in graph.sparse_initializer)]


def _check_tensor_size(tensor: onnx.TensorProto, label: str) -> None:
    """An initializer's dims must match the data it holds (else importers fail in reshape)."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL or any(
        entry.key == "location" for entry in tensor.external_data
    ):
        return
    if any(d < 0 for d in tensor.dims):
        raise InputError(f'{label}: initializer "{tensor.name}" has a negative dimension {list(tensor.dims)}')
    expected = math.prod(tensor.dims)
    held = _element_count(tensor)
    if held is not None and held != expected:
        raise InputError(
            f'{label}: initializer "{tensor.name}" declares dims {list(tensor.dims)} ({expected} elements) '
            f"but holds {held}; the file is damaged or was written wrongly, re-export it"
        )


def _element_count(tensor: onnx.TensorProto) -> int | None:
    """How many elements a tensor's data holds, or None when the type is not one counted here."""
    data_type = tensor.data_type
    if data_type == onnx.TensorProto.STRING:
        return len(tensor.string_data)
    try:
        field = helper.tensor_dtype_to_field(data_type)
        itemsize = helper.tensor_dtype_to_np_dtype(data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return None
    if data_type in _PACKED_4BIT:
        return None  # two elements a byte, the last one possibly padding: onnx's checker judges these
    complex_parts = 2 if data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128) else 1
    if tensor.HasField("raw_data"):
        if len(tensor.raw_data) % itemsize:
            return -1
        return len(tensor.raw_data) // itemsize
    return len(getattr(tensor, field)) // complex_parts


def _run_checker(model: onnx.ModelProto, label: str, path: str | os.PathLike | None) -> None:
    # From a file when it has one and the weights are big or in external data: onnx's in-memory
    # check serialises the whole model (protobuf refuses past 2 GB), the file check reads no weights.
    too_large = weight_bytes(model) > EXTERNAL_DATA_THRESHOLD or has_external_data(model)
    try:
        if too_large:
            if path is None:
                return  # protobuf cannot serialise it; the structural checks above still ran
            onnx.checker.check_model(str(Path(path)), full_check=True)
        else:
            onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # ValidationError, and InferenceError from full_check's shape inference
        raise InputError(f"{label}: fails the ONNX checker: {_checker_message(error)}") from error


def _checker_message(error: BaseException) -> str:
    """onnx's messages span lines ('... of node: \\nname: conv OpType: Conv'); join them into one."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    text = text.replace("==> Context: ", "")
    return text[:400] if text else first_line(error)
