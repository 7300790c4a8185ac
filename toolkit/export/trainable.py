"""The one rule of a trainable export: float initializers are exactly the source's parameters and
running statistics, named as in the source; every other float value is a Constant node.

The importers make every float initializer a parameter, so an exporter's scalar (an epsilon, a
zero state tf2onnx lifted into an initializer) would otherwise become a spurious trainable one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper

PARAMETER_NAMES_KEY = "toolkit.parameters"


def only_source_initializers(model: onnx.ModelProto, source_names: Iterable[str]) -> onnx.ModelProto:
    keep = set(source_names)
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
