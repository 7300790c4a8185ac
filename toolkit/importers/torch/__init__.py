"""ONNX → torch: `import_onnx` gives a trainable `torch.fx.GraphModule`; `save` writes .pt2 or .py.

Calling convention: positional tensors in the ONNX graph-input order (initializers excluded); one
output returns a tensor, several a tuple in graph-output order. torch has no string tensors: ONNX
STRING inputs and outputs are numpy arrays of str (see ops/strings.py).

Built on the shared graph walker (toolkit/importers/core.py) with torch's operator table (ops/):
builder.py records the walk as an fx graph, optimize.py folds and tidies it, export.py writes .pt2 and
.py, dtypes.py maps ONNX element types to torch's.
"""

from __future__ import annotations

import os

import onnx
import torch

from toolkit.importers import core


def import_onnx(
    model_or_path: onnx.ModelProto | str | os.PathLike, base_dir: str | os.PathLike | None = None
) -> torch.fx.GraphModule:
    """An ONNX model as a native torch module (float initializers are nn.Parameters).

    Weights in external data (beside the file, or in `base_dir` for a ModelProto) are memory-mapped
    copy-on-write, not read: the parameters share the file's pages (importers/weights.py).
    """
    from toolkit.importers.torch.builder import build
    from toolkit.importers.torch.ops import table
    from toolkit.importers.torch.optimize import optimize

    return optimize(build(core.prepare(model_or_path, table, base_dir=base_dir)))


def save(module: torch.nn.Module, path: str | os.PathLike, example_inputs=None) -> None:
    """Write `module` as a torch.export program (.pt2) or generated Python + .safetensors (.py)."""
    from toolkit.importers.torch.export import save as _save

    _save(module, path, example_inputs=example_inputs)


__all__ = ["import_onnx", "save"]
