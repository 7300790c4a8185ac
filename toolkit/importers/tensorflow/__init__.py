"""ONNX → TensorFlow: `import_onnx` gives a tf.Module whose `__call__` is a tf.function.

Built on the shared graph walker (toolkit/importers/core.py) with TensorFlow's operator table
(ops/), channels-last layout planning (layout.py) and SavedModel export (saved_model.py).
TensorFlow is imported only when one of these functions is called.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["import_onnx", "save_saved_model", "operator_table"]


def operator_table():
    """The TensorFlow operator table, every family registered."""
    from toolkit.importers.tensorflow.ops import load_all

    return load_all()


def import_onnx(model_or_path: Any, base_dir: str | os.PathLike | None = None) -> Any:
    """An ONNX model (ModelProto or path) as a tf.Module.

    Unsupported operators, attributes and types are reported all at once, before any work,
    as an UnsupportedOperatorError. Weights in external data (beside the file, or in `base_dir`
    for a ModelProto) are memory-mapped and copied once, into the tf.Variables.
    """
    from toolkit.importers import core
    from toolkit.importers.tensorflow.builder import build_module

    prepared = core.prepare(model_or_path, operator_table(), base_dir=base_dir)
    return build_module(prepared)


def save_saved_model(module: Any, directory: str | os.PathLike) -> None:
    """Write `module` as a SavedModel with a `serving_default` signature keyed by ONNX names."""
    from toolkit.importers.tensorflow.saved_model import save

    save(module, directory)
