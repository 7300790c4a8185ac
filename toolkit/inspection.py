"""`toolkit inspect`: what an ONNX file holds, read without loading weights or any framework."""

from __future__ import annotations

import collections
import math
from pathlib import Path

import onnx

from toolkit.errors import InputError
from toolkit.graphs import all_nodes
from toolkit.io import load_onnx


def describe(path: str | Path) -> dict:
    """Inputs, outputs, opsets, producer, operator histogram and parameter count of an ONNX file."""
    path = Path(path)
    if path.suffix.lower() != ".onnx" and path.is_file():
        raise InputError(f"{path}: inspect reads ONNX files; convert it first with 'toolkit convert'")
    model = load_onnx(path, load_external_data=False)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    histogram = collections.Counter(_qualified(node) for node in all_nodes(graph))
    parameters = sum(math.prod(i.dims) for i in graph.initializer)
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    return {
        "path": str(path),
        "ir_version": model.ir_version,
        "opsets": {(entry.domain or "ai.onnx"): entry.version for entry in model.opset_import},
        "producer": " ".join(p for p in (model.producer_name, model.producer_version) if p),
        "exporter": metadata.get("toolkit.exporter", ""),
        "inputs": [_value(v) for v in graph.input if v.name not in initializers],
        "dynamic_axes": _dynamic_axes(v for v in graph.input if v.name not in initializers),
        "outputs": [_value(v) for v in graph.output],
        "nodes": sum(histogram.values()),
        "operators": dict(histogram.most_common()),
        "parameters": parameters,
        "initializers": len(graph.initializer),
        "external_data": any(i.data_location == onnx.TensorProto.EXTERNAL for i in graph.initializer),
        "file_bytes": path.stat().st_size,
    }


def _dynamic_axes(inputs) -> dict[str, list[str]]:
    """{dim name: ["input:axis", ...]}: which input axes vary, and which vary together."""
    axes: dict[str, list[str]] = {}
    for value in inputs:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param:
                axes.setdefault(dim.dim_param, []).append(f"{value.name}:{axis}")
    return axes


def _qualified(node: onnx.NodeProto) -> str:
    return f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def _value(value: onnx.ValueInfoProto) -> dict:
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        return {"name": value.name, "dtype": value.type.WhichOneof("value"), "shape": None}
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
    dtype = _element_type_name(tensor.elem_type) if tensor.elem_type else "?"
    return {"name": value.name, "dtype": dtype, "shape": dims if tensor.HasField("shape") else None}


def _element_type_name(element_type: int) -> str:
    """The ONNX name of an element type; a number this onnx does not know is shown, not raised on."""
    try:
        return onnx.TensorProto.DataType.Name(element_type).lower()
    except ValueError:
        return f"unknown({element_type})"


def render(summary: dict) -> None:
    from rich.table import Table

    from toolkit.terminal import console as make_console

    console = make_console()
    opsets = ", ".join(f"{domain} {version}" for domain, version in summary["opsets"].items())
    console.print(f"[bold]{summary['path']}[/]  IR {summary['ir_version']}, opset {opsets}")
    producer = summary["producer"] or "unknown"
    if summary["exporter"]:
        producer += f" ({summary['exporter']})"
    console.print(f"producer: {producer}")
    console.print(
        f"parameters: {summary['parameters']:,} in {summary['initializers']} initializers"
        + (" (external data)" if summary["external_data"] else "")
        + f"; {summary['nodes']} nodes; file {summary['file_bytes']:,} bytes"
    )
    if summary["dynamic_axes"]:
        console.print(
            "dynamic axes: "
            + "; ".join(f"{name} ({', '.join(axes)})" for name, axes in summary["dynamic_axes"].items())
        )
    for title in ("inputs", "outputs"):
        table = Table(title=title, title_justify="left")
        for column in ("name", "dtype", "shape"):
            table.add_column(column)
        for value in summary[title]:
            shape = "x".join(str(d) for d in value["shape"]) if value["shape"] is not None else "unknown"
            table.add_row(value["name"], str(value["dtype"]), shape or "scalar")
        console.print(table)
    table = Table(title="operators", title_justify="left")
    table.add_column("op_type")
    table.add_column("count", justify="right")
    for op, count in summary["operators"].items():
        table.add_row(op, str(count))
    console.print(table)
