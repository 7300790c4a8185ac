"""What the torch importer does to a module once it is built: release what only building needed.

Handlers that read values while building (a Reshape's shape, Slice's starts) find them in each
get_attr node's meta["onnx_constant"], a numpy copy of the initializer. Once the module is built that
copy of a large weight is a second copy of the model for the module's lifetime; small ones stay,
as later fx passes and the `.py` writer may still read them. Parameters are untouched.
"""

from __future__ import annotations

import torch.fx

# Build-time numpy copies of initializers larger than this are dropped once the module is built.
KEPT_CONSTANT_BYTES = 64 * 1024


def optimize(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with the build-time copies of its large initializers released (in place)."""
    for node in module.graph.find_nodes(op="get_attr"):
        array = node.meta.get("onnx_constant")
        if array is not None and getattr(array, "nbytes", 0) > KEPT_CONSTANT_BYTES:
            del node.meta["onnx_constant"]
    return module
