"""Store recurrent weights in the gate order torch's fused kernels read, instead of reordering per call.

ONNX orders LSTM gates i, o, f, c and GRU gates z, r, h; `torch.lstm` and `torch.gru` want i, f, g, o
and r, z, n. ops/rnn_fused.py records the reordering as `index_select` of W, R and B by a constant
index, so gradients reach the ONNX-layout parameters, but it copies every weight on every call.
When a parameter is read only there, the fold stores it already reordered and drops the
index_select. It keeps its name and shape; `onnx_initializer_gathers` records the row order
(axis, index: imported = take(source, index, axis)) so that `toolkit.parameter_map` reads, writes
and trains it in the ONNX layout.
"""

from __future__ import annotations

import torch
import torch.fx

from toolkit.importers.torch.fold_patterns import constant_array


def fold_gate_orders(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with each parameter that is only read through a constant index_select stored
    in that order (in place)."""
    gathers = getattr(module, "onnx_initializer_gathers", {})
    names = {a: n for n, a in getattr(module, "onnx_initializer_attributes", {}).items()}
    readers: dict[str, list[torch.fx.Node]] = {}
    for node in module.graph.find_nodes(op="get_attr"):
        readers.setdefault(node.target, []).append(node)
    for select in list(module.graph.find_nodes(op="call_method", target="index_select")):
        found = _foldable(module, select, readers)
        if found is None:
            continue
        weight, axis, index = found
        parameter = getattr(module, weight.target)
        with torch.no_grad():
            parameter.data = parameter.index_select(axis, torch.as_tensor(index, device=parameter.device))
        index_node = select.args[2]
        select.replace_all_uses_with(weight)
        module.graph.erase_node(select)
        if not index_node.users and len(readers[index_node.target]) == 1:
            module.graph.erase_node(index_node)
            delattr(module, index_node.target)
        name = names.get(weight.target)
        if name is not None:
            gathers[name] = (axis, tuple(int(i) for i in index))
    module.onnx_initializer_gathers = gathers
    return module


def _foldable(module, select: torch.fx.Node, readers: dict):
    """(weight get_attr, axis, index) when `select` is the only reader of a parameter."""
    if len(select.args) != 3 or select.kwargs:
        return None
    weight, axis, index_node = select.args
    if not (isinstance(weight, torch.fx.Node) and weight.op == "get_attr" and isinstance(axis, int)):
        return None
    if len(weight.users) != 1 or len(readers.get(weight.target, ())) != 1:
        return None
    if not isinstance(getattr(module, weight.target, None), torch.nn.Parameter):
        return None
    index = constant_array(module, index_node)
    parameter = getattr(module, weight.target)
    if index is None or index.ndim != 1 or index.dtype.kind not in "iu":
        return None
    # A permutation of the axis: the shape, and every value, stay.
    if sorted(index.tolist()) != list(range(parameter.shape[axis])):
        return None
    return weight, axis % parameter.dim(), index
