"""The TensorFlow importer's compile function for the conformance harness: import once, run each
data set through the traced tf.function (what users, SavedModel and serving get) or, for
comparison, op by op eagerly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx


def compile_model(model: onnx.ModelProto, traced: bool = True):
    """Import `model` once; the result runs lists of numpy feeds and returns lists of numpy outputs.

    Feeds of types TF carries in a wider dtype (int4, float8 fnuz, ...) go in as their carrier and
    outputs of those types come back relabelled as the ONNX type (see dtypes.py).
    """
    from toolkit.importers.tensorflow import dtypes, import_onnx

    module = import_onnx(model)
    call = module if traced else module.call_eager
    declared = [o.type.tensor_type.elem_type for o in model.graph.output]

    def run(feeds: list[Any]) -> list[Any]:
        feeds = [dtypes.carry_array(_array(feed)) for feed in feeds]
        outputs = call(*feeds)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        values = [_numpy(value) for value in outputs]
        return [
            dtypes.as_onnx_array(value, element_type) if isinstance(value, np.ndarray) else value
            for value, element_type in zip(values, declared, strict=False)
        ]

    return run


def _array(value: Any) -> Any:
    # Some onnx node cases store inputs as TensorProto (types numpy lacks); the harness passes them on.
    return onnx.numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else value


def _numpy(value: Any) -> Any:
    if isinstance(value, list):
        return [_numpy(v) for v in value]
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value) if value is not None else None
