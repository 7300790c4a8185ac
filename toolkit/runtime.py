"""onnxruntime sessions: provider choice and input validation before a run, with clear errors."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime

from toolkit.errors import InputError, UsageError
from toolkit.io import first_line

PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
# `auto` prefers the fastest present provider; CPU always stays last as the fallback.
AUTO_ORDER = ("tensorrt", "cuda", "cpu")

# onnxruntime's type strings ("tensor(float)") to numpy dtypes.
ORT_TYPE_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def available_providers() -> list[str]:
    return list(onnxruntime.get_available_providers())


def resolve_providers(provider: str = "auto") -> list[str]:
    """Turn `auto|cpu|cuda|tensorrt` into an onnxruntime provider list, failing clearly when absent."""
    present = available_providers()
    if provider == "auto":
        return [PROVIDER_NAMES[name] for name in AUTO_ORDER if PROVIDER_NAMES[name] in present]
    if provider not in PROVIDER_NAMES:
        raise UsageError(f"unknown provider {provider!r}; choose one of auto, {', '.join(PROVIDER_NAMES)}")
    wanted = PROVIDER_NAMES[provider]
    if wanted not in present:
        hint = " (install the GPU extra: pip install 'toolkit[gpu]')" if provider != "cpu" else ""
        raise UsageError(
            f"provider {provider!r} ({wanted}) is not available in this onnxruntime build; "
            f"present: {', '.join(present)}{hint}"
        )
    # CPU stays as the fallback for nodes the accelerator does not take.
    return [wanted] if wanted == PROVIDER_NAMES["cpu"] else [wanted, PROVIDER_NAMES["cpu"]]


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output as onnxruntime sees it: unknown dimensions are None or a name."""

    name: str
    dtype: np.dtype
    shape: tuple[int | str | None, ...]

    @property
    def dynamic_axes(self) -> list[int]:
        return [axis for axis, size in enumerate(self.shape) if not isinstance(size, int)]


def _spec(node_arg) -> TensorSpec:
    dtype = ORT_TYPE_TO_NUMPY.get(node_arg.type)
    shape = tuple(node_arg.shape) if node_arg.shape is not None else ()
    return TensorSpec(node_arg.name, np.dtype(dtype) if dtype is not None else None, shape)


class OnnxRuntimeModel:
    """An onnxruntime session with named, validated inputs; callable like the source model."""

    def __init__(
        self,
        model: onnx.ModelProto | str | os.PathLike,
        provider: str = "auto",
        intra_op_threads: int | None = None,
        session_options: onnxruntime.SessionOptions | None = None,
    ):
        options = session_options or onnxruntime.SessionOptions()
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        self.providers = resolve_providers(provider)
        source = str(model) if isinstance(model, (str, os.PathLike)) else model.SerializeToString()
        label = str(model) if isinstance(model, (str, os.PathLike)) else "model"
        self.label = label
        try:
            self.session = onnxruntime.InferenceSession(
                source, sess_options=options, providers=self.providers
            )
        except Exception as error:
            raise InputError(f"{label}: onnxruntime cannot load the model: {first_line(error)}") from error
        self.inputs = [_spec(arg) for arg in self.session.get_inputs()]
        self.outputs = [_spec(arg) for arg in self.session.get_outputs()]

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [spec.name for spec in self.outputs]

    def validate(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check names, dtypes and ranks/static sizes before the run; returns contiguous arrays."""
        expected = {spec.name: spec for spec in self.inputs}
        unknown = sorted(set(feeds) - set(expected))
        missing = [name for name in expected if name not in feeds]
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"missing input(s) {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown input(s) {', '.join(unknown)}")
            raise InputError(f"{self.label}: {'; '.join(parts)}; the model takes {', '.join(expected)}")
        checked = {}
        for name, spec in expected.items():
            value = np.asarray(feeds[name])
            if spec.dtype is not None and value.dtype != spec.dtype:
                raise InputError(
                    f"{self.label}: input {name!r} has dtype {value.dtype}, the model expects {spec.dtype}"
                )
            check_shape(self.label, name, value.shape, spec.shape)
            checked[name] = np.ascontiguousarray(value)
        return checked

    def run(
        self, feeds: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        checked = self.validate(feeds)
        names = list(output_names) if output_names else self.output_names
        try:
            values = self.session.run(names, checked)
        except Exception as error:
            raise InputError(f"{self.label}: onnxruntime run failed: {first_line(error)}") from error
        return dict(zip(names, values, strict=True))

    def __call__(self, *args: np.ndarray):
        """Positional inputs in graph order; one output returns an array, several a tuple."""
        outputs = self.run(dict(zip(self.input_names, args, strict=False)))
        values = tuple(outputs[name] for name in self.output_names)
        return values[0] if len(values) == 1 else values


def check_shape(label: str, name: str, shape: Sequence[int], expected: Sequence[int | str | None]) -> None:
    """Compare a concrete shape with a declared one whose symbolic dimensions match anything."""
    if len(shape) != len(expected):
        raise InputError(
            f"{label}: input {name!r} has shape {format_shape(shape)}, the model expects "
            f"{format_shape(expected)} (rank {len(expected)})"
        )
    for axis, (size, want) in enumerate(zip(shape, expected, strict=True)):
        if isinstance(want, int) and want >= 0 and size != want:
            raise InputError(
                f"{label}: input {name!r} has shape {format_shape(shape)}, the model expects "
                f"{format_shape(expected)} (axis {axis} must be {want})"
            )


def format_shape(shape: Sequence[int | str | None]) -> str:
    return "x".join("?" if size is None else str(size) for size in shape) or "scalar"
