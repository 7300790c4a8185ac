"""An imported module as a SavedModel whose `serving_default` is keyed by the ONNX input and output names.

The SavedModel loads with plain `tf.saved_model.load`: the toolkit is not needed to run it.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf

from toolkit.errors import InputError
from toolkit.importers.tensorflow.builder import tf_name
from toolkit.io import atomic_output

# Signature output keys become tensor names in the loaded graph: keep them to TF's alphabet.
_KEY = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def signature_key(name: str) -> str:
    return name if _KEY.match(name) else tf_name(name)


def serving_function(module) -> tf.types.experimental.ConcreteFunction:
    """The concrete function for `serving_default`: ONNX input names in, {ONNX output name: tensor} out."""
    if any(spec is None for spec in module.input_specs):
        raise InputError(
            "a SavedModel signature needs tensor inputs; this graph takes sequences or optionals"
        )
    output_keys = [signature_key(name) for name in module.output_names]

    @tf.function(input_signature=module.input_specs, autograph=False)
    def serve(*inputs):
        outputs = module.call_eager(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return dict(zip(output_keys, outputs, strict=True))

    return serve.get_concrete_function()


def save(module, directory: str | os.PathLike) -> None:
    """Write `module` (from import_onnx) as a SavedModel at `directory`, atomically."""
    signatures = {"serving_default": serving_function(module)}
    with atomic_output(directory, directory=True) as temporary:
        tf.saved_model.save(module, str(temporary), signatures=signatures)
