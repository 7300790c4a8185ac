"""A .tflite file on the LiteRT interpreter, called like every other Runnable: inputs in ONNX order.

LiteRT's signature runner takes keyword inputs by signature key; the interface stored by
`convert` (metadata.py) gives the ONNX names and order. A file from another tool falls back to
its signature's own keys in the order the signature lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from toolkit.errors import InputError
from toolkit.io import first_line
from toolkit.quiet import stderr_silenced
from toolkit.runners import InputSpec, Runnable
from toolkit.tflite import metadata


class TFLiteRunnable(Runnable):
    framework = "litert"

    def __init__(self, path: str | Path, label: str | None = None, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        path = Path(path)
        self.label = label or str(path)
        self._warmed = False
        flatbuffer = path.read_bytes()
        try:
            with stderr_silenced():
                self.interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
                signatures = self.interpreter.get_signature_list()
        except Exception as error:
            raise InputError(f"{path}: not a loadable TFLite model ({first_line(error)})") from error
        if not signatures:
            raise InputError(f"{path}: the TFLite model has no signature; convert it with a signature")
        self.signature_key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
        self.runner = self.interpreter.get_signature_runner(self.signature_key)
        details = self.runner.get_input_details()
        self.interface = metadata.read(flatbuffer)
        if self.interface is not None:
            input_keys = self.interface.input_keys
            self.output_keys = self.interface.output_keys
            names = self.interface.inputs
            self.output_names = list(self.interface.outputs)
        else:
            input_keys = list(signatures[self.signature_key]["inputs"])
            self.output_keys = list(signatures[self.signature_key]["outputs"])
            names = input_keys
            self.output_names = list(self.output_keys)
        self.input_keys = input_keys
        self.input_specs = [
            InputSpec(name, np.dtype(details[key]["dtype"]), _shape(details[key]))
            for name, key in zip(names, input_keys, strict=True)
        ]

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        feeds = {}
        for key, spec, value in zip(self.input_keys, self.input_specs, inputs, strict=True):
            value = np.asarray(value)
            if value.dtype != spec.dtype:
                raise InputError(f"{self.label}: input {spec.name!r} takes {spec.dtype}, got {value.dtype}")
            if len(value.shape) != len(spec.shape) or any(
                size is not None and size != got for size, got in zip(spec.shape, value.shape, strict=True)
            ):
                # LiteRT resizes any input without complaint, and a graph built for static shapes then computes garbage.
                wanted = "x".join("?" if size is None else str(size) for size in spec.shape)
                raise InputError(
                    f"{self.label}: input {spec.name!r} has shape {'x'.join(map(str, value.shape))}, "
                    f"the TFLite model takes {wanted}"
                )
            feeds[key] = np.ascontiguousarray(value)
        if not self._warmed:
            with stderr_silenced():  # XNNPACK announces itself on stderr at the first run
                outputs = self.runner(**feeds)
            self._warmed = True
        else:
            outputs = self.runner(**feeds)
        # The runner returns views into interpreter memory that the next call overwrites.
        return [np.array(outputs[key]) for key in self.output_keys]


def _shape(detail: dict) -> tuple:
    signature = detail.get("shape_signature")
    shape = signature if signature is not None and len(signature) else detail["shape"]
    return tuple(None if int(size) < 0 else int(size) for size in shape)
