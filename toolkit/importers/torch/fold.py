"""Fold a channels-last flatten into the weight of the MatMul that reads it.

tf2onnx writes Keras's `Flatten` after an NCHW convolution as Transpose(0, 2, 3, 1) → Reshape
[N, H*W*C] → MatMul(W): torch pays for a permuted copy of the activation on every call. When the
permutation keeps the batch axis and the Reshape flattens everything after it, the Transpose only
reorders the rows of W; the same product is Reshape [N, C*H*W] of the untransposed activation times
W with its rows in that order. The parameter keeps its name and shape; `onnx_initializer_layouts`
records the reordering so that `toolkit.parameter_map` reads and writes it in the source layout.
The rule (when the permutation only reorders W's rows, and how) is semantics/flatten.py's, shared
with the TensorFlow importer.
"""

from __future__ import annotations

import torch
import torch.fx

from toolkit.importers.semantics import flatten
from toolkit.importers.torch.fold_patterns import is_method


def fold_flatten_permutes(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with each foldable permute → flatten → matmul(parameter) folded (in place)."""
    layouts = getattr(module, "onnx_initializer_layouts", {})
    attribute_names = {a: n for n, a in getattr(module, "onnx_initializer_attributes", {}).items()}
    for matmul in list(module.graph.find_nodes(op="call_function", target=torch.matmul)):
        found = _foldable(module, matmul)
        if found is None:
            continue
        permute, reshape, weight, (rows_split, rows_order) = found
        parameter = getattr(module, weight.target)
        split, order = flatten.weight_layout(rows_split, rows_order, parameter.shape[1])
        with torch.no_grad():
            reordered = parameter.reshape(split).permute(order).reshape(parameter.shape).contiguous()
            parameter.data = reordered
        reshape.replace_input_with(permute, permute.args[0])
        module.graph.erase_node(permute)
        name = attribute_names.get(weight.target)
        if name is not None:
            layouts[name] = (split, order)
    module.onnx_initializer_layouts = layouts
    return module


def _foldable(module: torch.fx.GraphModule, matmul: torch.fx.Node):
    """(permute, reshape, weight, rows' reordering) when `matmul` reads a foldable flatten."""
    if len(matmul.args) != 2 or matmul.kwargs:
        return None
    reshape, weight = matmul.args
    if not (isinstance(weight, torch.fx.Node) and weight.op == "get_attr" and len(weight.users) == 1):
        return None
    parameter = getattr(module, weight.target, None)
    if not isinstance(parameter, torch.nn.Parameter) or parameter.dim() != 2:
        return None
    if not is_method(reshape, "reshape") or len(reshape.users) != 1 or len(reshape.args) != 2:
        return None
    permute = reshape.args[0]
    if not is_method(permute, "permute") or len(permute.users) != 1:
        return None
    perm = permute.args[1] if isinstance(permute.args[1], (list, tuple)) else permute.args[1:]
    perm = tuple(perm)
    source = permute.args[0]
    info = source.meta.get("onnx_value") if isinstance(source, torch.fx.Node) else None
    dims = None if info is None or info.shape is None else info.shape
    target = reshape.args[1]
    if dims is None or not isinstance(target, (list, tuple)):
        return None
    rows = flatten.fold(dims, perm, target, parameter.shape[0])
    return None if rows is None else (permute, reshape, weight, rows)
