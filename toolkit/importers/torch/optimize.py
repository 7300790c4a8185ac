"""What the torch importer does to a module once it is built: fold patterns, release what only building needed.

The folds rewrite node-by-node spellings ONNX leaves behind into the calls torch has kernels for
(fold.py: a channels-last flatten into a MatMul weight; fold_attention.py: attention into
scaled_dot_product_attention; fold_linear.py: MatMul + bias into F.linear; fold_recurrent.py:
LSTM/GRU weights stored in torch's gate order; fold_exponent.py: Pow by a constant as a number), each only where it computes the same thing.

Handlers that read values while building (a Reshape's shape, Slice's starts) find them in each
get_attr node's meta["onnx_constant"], a numpy copy of the initializer. Once the module is built that
copy of a large weight is a second copy of the model for the module's lifetime; small ones stay,
as later fx passes and the `.py` writer may still read them. Parameters are untouched.
"""

from __future__ import annotations

import torch.fx

from toolkit.importers.torch.fold import fold_flatten_permutes
from toolkit.importers.torch.fold_attention import fold_attention
from toolkit.importers.torch.fold_exponent import fold_constant_exponents
from toolkit.importers.torch.fold_linear import fold_linear
from toolkit.importers.torch.fold_recurrent import fold_gate_orders

# Build-time numpy copies of initializers larger than this are dropped once the module is built.
KEPT_CONSTANT_BYTES = 64 * 1024
FOLDS = (fold_flatten_permutes, fold_attention, fold_linear, fold_gate_orders, fold_constant_exponents)


def optimize(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` folded, with the build-time copies of its large initializers released (in place)."""
    for fold in FOLDS:
        module = fold(module)  # each edits the graph; the code is regenerated once, below
    module.graph.lint()
    module.recompile()
    for node in module.graph.find_nodes(op="get_attr"):
        array = node.meta.get("onnx_constant")
        if array is not None and getattr(array, "nbytes", 0) > KEPT_CONSTANT_BYTES:
            del node.meta["onnx_constant"]
    return module
