"""The importer as an `onnx.backend.base.Backend`, so onnx's own BackendTest runner can drive it,
and the compile function the conformance suite uses: import once, run each data set through the
traced tf.function (what users, SavedModel and serving get) or, for comparison, op by op eagerly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep


class TensorFlowRep(BackendRep):
    def __init__(self, module, eager: bool = True):
        self.module = module
        self.eager = eager

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.module.input_names]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        call = self.module.call_eager if self.eager else self.module
        outputs = call(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return tuple(_numpy(value) for value in outputs)


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


class TensorFlowBackend(Backend):
    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return device == "CPU"

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> TensorFlowRep:
        from toolkit.importers.tensorflow import import_onnx

        return TensorFlowRep(import_onnx(model), eager=kwargs.get("eager", True))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)


prepare = TensorFlowBackend.prepare
run_model = TensorFlowBackend.run_model
supports_device = TensorFlowBackend.supports_device
