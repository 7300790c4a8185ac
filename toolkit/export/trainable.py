"""The one rule of a trainable export: float initializers are exactly the source's parameters and
running statistics, named as in the source; every other float value is a Constant node.

The importers make every float initializer a parameter, so an exporter's scalar (an epsilon, a
zero state tf2onnx lifted into an initializer, RMSNorm's exponent 2) or a buffer that is no
running statistic (rotary embeddings' inv_freq, a Normalization layer's mean) would otherwise
become a spurious trainable one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper

PARAMETER_NAMES_KEY = "toolkit.parameters"


def only_source_initializers(
    model: onnx.ModelProto, parameter_names: Iterable[str], buffer_names: Iterable[str] = ()
) -> onnx.ModelProto:
    """Float initializers kept: the parameters, and the buffers a node keeps as running statistics."""
    from toolkit.importers.training import state_inputs

    keep = set(parameter_names) | (set(buffer_names) & state_inputs(model.graph))
    _graph(model.graph, keep)
    return model


def _graph(graph: onnx.GraphProto, keep: set[str]) -> None:
    moved = []
    for initializer in list(graph.initializer):
        array = numpy_helper.to_array(initializer)
        if initializer.name not in keep and np.issubdtype(array.dtype, np.floating):
            graph.initializer.remove(initializer)
            moved.append(helper.make_node("Constant", [], [initializer.name], value=initializer))
    for index, node in enumerate(moved):
        graph.node.insert(index, node)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                _graph(attribute.g, keep)
            for subgraph in attribute.graphs:
                _graph(subgraph, keep)


def strip_initializer_prefix(model: onnx.ModelProto, prefix: str) -> onnx.ModelProto:
    """Initializers named `prefix + key` renamed `key`, wherever a node reads them (subgraphs too):
    a wrapper module's attribute left out of the source's state_dict names."""
    renames = {i.name: i.name[len(prefix) :] for i in model.graph.initializer if i.name.startswith(prefix)}
    for initializer in model.graph.initializer:
        initializer.name = renames.get(initializer.name, initializer.name)
    _rename_inputs(model.graph, renames)
    return model


def _rename_inputs(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name in renames:
                node.input[index] = renames[name]
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                _rename_inputs(attribute.g, renames)
            for subgraph in attribute.graphs:
                _rename_inputs(subgraph, renames)
