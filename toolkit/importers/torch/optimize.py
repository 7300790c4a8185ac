"""fx passes run on an imported module after it is built: eager nodes rewritten as plain torch calls.

The builder records a node whose handler needs concrete values as an `OnnxNode` submodule, which
runs on real tensors. torch.compile breaks its graph there, and torch.export cannot trace it. Some
of those nodes only needed a value the graph still has symbolically (a batch size), or need no
values at all once written for the general case; each pass here replaces one such pattern with
plain torch calls. Parameters are untouched (same names, same tensors), so gradients reach the
same values; a pass that cannot prove its pattern leaves the node as it is.
"""

from __future__ import annotations

import torch
import torch.fx

from toolkit.importers.torch.ops.support import SYMBOLIC

# Build-time numpy copies of initializers larger than this are dropped once the module is built.
KEPT_CONSTANT_BYTES = 64 * 1024


def optimize(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with every eager node a pass can express in plain torch rewritten (in place)."""
    release_constant_copies(module)
    changed = False
    for node in list(module.graph.nodes):
        if node.op != "call_module":
            continue
        eager = module.get_submodule(node.target)
        rewrite = REWRITES.get(getattr(eager, "op_type", None))
        if rewrite is not None and rewrite(module, node, eager):
            changed = True
    if changed:
        # As the builder does: graph inputs and shape assertions stay even when nothing reads them.
        module.graph.eliminate_dead_code(
            is_impure_node=lambda node: node.op in ("placeholder", "output") or node.target is torch._assert
        )
        module.delete_all_unused_submodules()
        module.recompile()
    return module


def release_constant_copies(module: torch.fx.GraphModule) -> None:
    """Drop the numpy copy of each large initializer that the builder keeps in its get_attr node's
    meta["onnx_constant"] for handlers that read values while building: once built, it is a second
    copy of every weight (1x the model's size, for the module's lifetime)."""
    for node in module.graph.find_nodes(op="get_attr"):
        array = node.meta.get("onnx_constant")
        if array is not None and getattr(array, "nbytes", 0) > KEPT_CONSTANT_BYTES:
            del node.meta["onnx_constant"]


def _replace(node: torch.fx.Node, function, args: tuple, kwargs: dict | None = None) -> None:
    graph = node.graph
    with graph.inserting_before(node):
        replacement = graph.call_function(function, args, kwargs or {})
    replacement.meta.update(node.meta)
    node.replace_all_uses_with(replacement)
    name = node.name
    graph.erase_node(node)
    replacement._rename(name)


def _buffer(module: torch.fx.GraphModule, node) -> torch.Tensor | None:
    """The one-element buffer (not a parameter: it must not be trained) a get_attr node reads."""
    if not isinstance(node, torch.fx.Node) or node.op != "get_attr":
        return None
    value = module
    for part in node.target.split("."):
        value = getattr(value, part)
    if not isinstance(value, torch.Tensor) or isinstance(value, torch.nn.Parameter) or value.numel() != 1:
        return None
    return value


def _symbolic_scalar(node) -> torch.fx.Node | None:
    """The size node (`x.size(i)`) a one-element integer value stands for, read from the
    symbolic sizes the shape handlers attach; a Squeeze without axes passes them through."""
    for candidate in (node, *(node.args[:1] if node.target in (torch.squeeze, "squeeze") else ())):
        items = candidate.meta.get(SYMBOLIC) if isinstance(candidate, torch.fx.Node) else None
        size = getattr(items[0], "node", None) if items and len(items) == 1 else None
        if size is not None and size.graph is node.graph and not getattr(size, "_erased", False):
            return size
    return None


def _range(module: torch.fx.GraphModule, node: torch.fx.Node, eager) -> bool:
    """ONNX Range over an integer size known only at run time (`arange(batch)`): torch.arange
    takes the size symbol directly."""
    if eager.static_values or len(node.args) != 3:
        return False
    start_node, limit_node, delta_node = node.args
    start, delta = _buffer(module, start_node), _buffer(module, delta_node)
    limit = _symbolic_scalar(limit_node) if isinstance(limit_node, torch.fx.Node) else None
    if start is None or delta is None or limit is None or start.is_floating_point() or not delta.item():
        return False
    arguments = (start.reshape(()).item(), limit, delta.reshape(()).item())
    _replace(node, torch.arange, arguments, {"dtype": start.dtype})
    return True


def gather_nd(data: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """ONNX GatherND, batch_dims=0: the last axis of `indices` indexes `data`'s leading axes
    (negative indices count from the end, as in torch's own indexing)."""
    return data[tuple(indices.unbind(-1))]


def _gather_nd(module: torch.fx.GraphModule, node: torch.fx.Node, eager) -> bool:
    """GatherND with batch_dims=0 needs no sizes while building: advanced indexing is the op."""
    if eager.static_values or eager.attributes.get("batch_dims", 0) != 0 or len(node.args) != 2:
        return False
    _replace(node, gather_nd, tuple(node.args))
    return True


# ONNX op_type -> pass; each returns whether it rewrote the node.
REWRITES = {"Range": _range, "GatherND": _gather_nd}
