"""The torch importer's compile function for the conformance harness: import once, then run each
data set through the same module (feeds and outputs as numpy, ml_dtypes included).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import torch

from toolkit.importers.torch.dtypes import CARRIED_FLOATS, SUB_BYTE_INTEGERS, to_numpy, to_torch


def to_torch_value(value: Any) -> Any:
    """A feed (array, list of arrays for a sequence, None for an empty optional) as torch values."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [to_torch_value(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, onnx.TensorProto):
        value = onnx.numpy_helper.to_array(value)
    value = np.asarray(value)
    if value.dtype == object or value.dtype.kind in "SU":  # strings stay numpy (see ops/strings.py)
        return value.astype(object)
    return to_torch(value)


def to_numpy_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [to_numpy_value(v) for v in value]
    if not isinstance(value, torch.Tensor):
        return np.asarray(value)
    return to_numpy(value)


def relabel_outputs(model: onnx.ModelProto):
    """numpy outputs → the ONNX output types: 2- and 4-bit integers travel in 8-bit tensors, float4
    in float32 (see dtypes.TORCH_DTYPES), whether from the GraphModule or a reloaded .pt2."""
    declared = [
        onnx.helper.tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type)
        if o.type.tensor_type.elem_type in (*SUB_BYTE_INTEGERS, *CARRIED_FLOATS)
        else None
        for o in model.graph.output
    ]
    return lambda values: [v if d is None else v.astype(d) for v, d in zip(values, declared, strict=False)]


def compile_model(model: onnx.ModelProto):
    """Import `model` once; the result runs lists of numpy feeds and returns lists of numpy outputs."""
    from toolkit.importers.torch import import_onnx

    module = import_onnx(model)
    count = len(module.onnx_output_names)
    relabel = relabel_outputs(model)

    def run(feeds: list[Any]) -> list[Any]:
        with torch.no_grad():
            result = module(*[to_torch_value(f) for f in feeds])
        outputs = result if count > 1 else (result,)
        return relabel([to_numpy_value(o) for o in outputs])

    return run
