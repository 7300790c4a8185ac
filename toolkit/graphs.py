"""Walking an ONNX graph with the subgraphs its control-flow nodes hold (If, Loop, Scan)."""

from __future__ import annotations

from collections.abc import Iterator

import onnx


def all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of `graph`, each followed by the nodes of its subgraphs, depth first."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from all_nodes(attribute.g)
            for subgraph in attribute.graphs:
                yield from all_nodes(subgraph)
