"""Framework models to ONNX: torch.onnx for PyTorch, tf2onnx for Keras/TensorFlow.

Imported lazily: `import toolkit.export` loads neither torch nor TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["ExportResult", "check_exported", "export_tensorflow", "export_torch"]

if TYPE_CHECKING:
    from toolkit.export.common import ExportResult, check_exported
    from toolkit.export.tensorflow import export_tensorflow
    from toolkit.export.torch import export_torch

_HOMES = {
    "ExportResult": "toolkit.export.common",
    "check_exported": "toolkit.export.common",
    "export_torch": "toolkit.export.torch",
    "export_tensorflow": "toolkit.export.tensorflow",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'toolkit.export' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
