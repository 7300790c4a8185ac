"""Fold a channels-last flatten into the weight of the MatMul that reads it.

tf2onnx writes Keras's `Flatten` after an NCHW convolution as Transpose(0, 2, 3, 1) → Reshape
[N, H*W*C] → MatMul(W): torch pays for a permuted copy of the activation on every call. When the
permutation keeps the batch axis and the Reshape flattens everything after it, the Transpose only
reorders the rows of W; the same product is Reshape [N, C*H*W] of the untransposed activation times
W with its rows in that order. The parameter keeps its name and shape; `onnx_initializer_layouts`
records the reordering so that `toolkit.parameter_map` reads and writes it in the source layout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.fx

from toolkit.importers.torch.fold_patterns import is_method


def fold_flatten_permutes(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with each foldable permute → flatten → matmul(parameter) folded (in place)."""
    layouts = getattr(module, "onnx_initializer_layouts", {})
    attribute_names = {a: n for n, a in getattr(module, "onnx_initializer_attributes", {}).items()}
    for matmul in list(module.graph.find_nodes(op="call_function", target=torch.matmul)):
        found = _foldable(module, matmul)
        if found is None:
            continue
        permute, reshape, weight, dims, perm = found
        parameter = getattr(module, weight.target)
        # Rows of W in transposed-activation order (dims permuted by perm), reordered to the
        # activation's own order: W'[j1..jk] = W[j_perm[0] .. j_perm[k-1]].
        rows_perm = tuple(p - 1 for p in perm[1:])
        split = (*(dims[p] for p in perm[1:]), parameter.shape[1])
        order = (*np.argsort(rows_perm).tolist(), len(rows_perm))
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
    """(permute, reshape, weight, activation dims, perm) when `matmul` reads a foldable flatten."""
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
    if dims is None or len(dims) != len(perm) or len(perm) < 3 or perm[0] != 0:
        return None
    if not all(isinstance(d, int) for d in dims[1:]):
        return None
    target = reshape.args[1]
    rows = math.prod(dims[1:])
    # [anything, rows]: the element count makes the first entry the batch, so this is a flatten.
    if not (isinstance(target, (list, tuple)) and len(target) == 2 and target[1] == rows):
        return None
    if parameter.shape[0] != rows:
        return None
    return permute, reshape, weight, dims, perm
