"""The importer as an `onnx.backend.base.Backend`, so onnx's own BackendTest runner can drive it."""

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
