"""Fold Pow by a constant scalar exponent into `torch.pow(x, <float>)`.

RMSNorm, as torch.onnx writes it, squares the activation with Pow(x, 2.0), the 2.0 an initializer.
The importer holds every float initializer as a parameter, and `torch.pow` with a tensor exponent
runs the general kernel, about 20 times slower than with a Python number (which squares). With the
exponent folded the values and the gradient with respect to x are the same; the exponent's own
gradient (xʸ·ln x, for a constant no source model trains) is no longer computed. Its parameter
keeps its name, and an edit to it no longer reaches the graph.
"""

from __future__ import annotations

import torch
import torch.fx

from toolkit.importers.torch.fold_patterns import constant_scalar, rank_of


def fold_constant_exponents(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with each Pow by a one-element constant exponent given that exponent as a float."""
    graph = module.graph
    for power in list(graph.find_nodes(op="call_function", target=torch.pow)):
        if len(power.args) != 2 or power.kwargs:
            continue
        base, exponent = power.args
        value = constant_scalar(module, exponent)
        if value is None or not isinstance(exponent, torch.fx.Node) or not _float_base(base):
            continue
        # A [1] exponent broadcasts a rank-0 base to [1]; a Python number would not.
        if exponent.meta.get("onnx_value") is None or rank_of(base) is None:
            continue
        if rank_of(base) < rank_of(exponent):
            continue
        power.args = (base, value)
        if not exponent.users:
            graph.erase_node(exponent)
    return module


def _float_base(node) -> bool:
    info = node.meta.get("onnx_value") if isinstance(node, torch.fx.Node) else None
    return info is not None and info.element_type in (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
