"""What the fx folds ask of a node: which call it is, who reads it, what constant or shape it holds.

The folds (fold.py, fold_attention.py, fold_recurrent.py) match patterns the torch importer's
handlers recorded; these read the handlers' calls and the ONNX facts each node carries
(`meta["onnx_value"]` from shape inference, `meta["onnx_constant"]` for initializers).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.fx


def is_function(node, target) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_function" and node.target is target


def is_method(node, name: str) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_method" and node.target == name


def only_user(node, user: torch.fx.Node) -> bool:
    """`user` is the one node reading `node` (so a fold may remove `node`)."""
    return isinstance(node, torch.fx.Node) and len(node.users) == 1 and user in node.users


def constant_array(module: torch.nn.Module, node) -> np.ndarray | None:
    """The value of a get_attr constant, or None."""
    if not (isinstance(node, torch.fx.Node) and node.op == "get_attr"):
        return None
    array = node.meta.get("onnx_constant")
    if array is not None:
        return np.asarray(array)
    value = getattr(module, node.target, None)
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else None


def constant_scalar(module: torch.nn.Module, value) -> float | None:
    """A one-element float constant (a Python number or a get_attr tensor) as a float, or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    array = constant_array(module, value)
    if array is None or array.size != 1 or not np.issubdtype(array.dtype, np.floating):
        return None
    return float(array.reshape(()))


def shape_of(node) -> tuple | None:
    """The ONNX shape inferred for the value, dims as ints, symbols or None; None when unknown."""
    info = node.meta.get("onnx_value") if isinstance(node, torch.fx.Node) else None
    return None if info is None or info.shape is None else tuple(info.shape)


def rank_of(node) -> int | None:
    shape = shape_of(node)
    return None if shape is None else len(shape)


def same_dim(value, tensor: torch.fx.Node, axis: int) -> bool:
    """`value` (a Reshape target entry) is `tensor`'s size along `axis`: the same known int, or a
    `tensor.size(axis)` node."""
    if is_method(value, "size"):
        return value.args[0] is tensor and len(value.args) == 2 and value.args[1] % 4 == axis % 4
    shape = shape_of(tensor)
    return (
        isinstance(value, int) and shape is not None and isinstance(shape[axis], int) and shape[axis] == value
    )


def eliminate_dead_code(graph: torch.fx.Graph) -> None:
    """Drop nodes nothing reads, keeping inputs, outputs and the shape assertions handlers record."""
    graph.eliminate_dead_code(
        is_impure_node=lambda node: (
            node.op in ("placeholder", "output") or node.target in (torch._assert, torch._assert_async)
        )
    )
