"""Fold MatMul(x, W) → Add(b) into one `F.linear(x, Wᵀ, b)`: the bias added inside the GEMM.

torch.onnx writes `nn.Linear` as MatMul by the weight, transposed to (in, out) at export (or, in a
trainable export, by Transpose(W) of the source's (out, in) weight), then Add of the bias: two
passes over the activation where `F.linear` (addmm) makes one. `W.t()` is a view (and a transposed
weight is read as it is stored), so the parameter keeps its ONNX layout and name and its gradient
is the same; nothing for `parameter_map` to record. Only a 2-D constant W and a 1-D constant b of
the output width fold: the Add then broadcasts b over the rows exactly as addmm does.
"""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F  # noqa: N812

from toolkit.importers.torch.fold_patterns import is_function, is_method, only_user, rank_of


def fold_linear(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with each MatMul-by-weight + bias as one F.linear (in place)."""
    graph = module.graph
    for add in list(graph.find_nodes(op="call_function", target=torch.add)):
        found = _linear(module, add)
        if found is None:
            continue
        matmul, x, weight, bias = found
        with graph.inserting_before(add):
            if is_method(weight, "permute"):  # Transpose(W [out, in]): F.linear's own layout
                stored = weight.args[0]
            else:
                stored = graph.call_method("t", (weight,))
                stored.meta["onnx_node"] = matmul.meta.get("onnx_node")
                stored._rename(f"{weight.name}_t")
            linear = graph.call_function(F.linear, (x, stored, bias))
        linear.meta.update(add.meta)
        # The MatMul's own output no longer exists: localisation recomputes it (F.linear without bias).
        linear.meta["onnx_value_without_bias"] = matmul.meta.get("onnx_value")
        add.replace_all_uses_with(linear)
        name = add.name
        graph.erase_node(add)
        graph.erase_node(matmul)
        if weight is not stored and not weight.users and weight.op != "get_attr":
            graph.erase_node(weight)
        linear._rename(name)
    return module


def _linear(module, add: torch.fx.Node):
    """(matmul, x, W, b) when `add` = Add(MatMul(x, W), b) with constant W [in, out] and b [out]."""
    if len(add.args) != 2 or add.kwargs:
        return None
    for matmul, bias in (add.args, add.args[::-1]):
        if not (is_function(matmul, torch.matmul) and only_user(matmul, add) and not matmul.kwargs):
            continue
        x, weight = matmul.args
        stored = weight
        if is_method(weight, "permute") and tuple(weight.args[1:]) in ((1, 0), ((1, 0),), ([1, 0],)):
            if not only_user(weight, matmul):
                continue
            stored = weight.args[0]
        weight_value, bias_value = _attribute(module, stored), _attribute(module, bias)
        if weight_value is None or bias_value is None or weight_value.dim() != 2:
            continue
        width = weight_value.shape[0 if stored is not weight else 1]
        if tuple(bias_value.shape) != (width,) or bias_value.dtype != weight_value.dtype:
            continue
        if not weight_value.is_floating_point() or rank_of(x) in (None, 0):
            continue
        return matmul, x, weight, bias
    return None


def _attribute(module, node):
    if not (isinstance(node, torch.fx.Node) and node.op == "get_attr"):
        return None
    value = getattr(module, node.target, None)
    return value if isinstance(value, torch.Tensor) else None
