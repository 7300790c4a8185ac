"""Source parameter name ↔ imported parameter, with the layout transform between them.

A trainable export (`convert(..., trainable=True)`) names every initializer after the source
parameter: a torch state_dict key ("conv.weight") or a Keras variable path ("conv2d/kernel").
The torch import holds each initializer as is, except a MatMul weight whose rows it reordered to
fold a channels-last flatten (importers/torch/fold.py) and recurrent weights stored in torch's gate
order (importers/torch/fold_recurrent.py); the TensorFlow import may hold one permuted
(convolution weights OIHW → HWIO, a Gemm's [out, in] weight as [in, out], a MatMul weight after a
channels-last flatten with its rows reordered). `perm` says how: imported = transpose(source, perm),
with the source first viewed as `split` when that is set (the rows of a 2-D weight as the axes they
flatten); `rows` = (axis, index) says imported = take(source, index, axis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from toolkit.errors import InputError


@dataclass
class MappedParameter:
    source_name: str  # the ONNX initializer, named after the source parameter
    imported_name: str  # attribute of the torch module, or tf.Variable name
    value: Any  # the torch Parameter/buffer or tf.Variable itself
    perm: tuple[int, ...] | None  # imported = np.transpose(source, perm); None: same layout
    trainable: bool  # False: running statistics (buffers, non-trainable variables)
    split: tuple[int, ...] | None = None  # the source viewed in this shape before `perm`, then reshaped back
    rows: tuple[int, tuple[int, ...]] | None = None  # (axis, index): imported = take(source, index, axis)
    # With `split`: the source's own shape when the imported one differs (a Gemm's [out, in] weight
    # the TensorFlow import stores [in, out], rows reordered); None: the same shape.
    source_shape: tuple[int, ...] | None = None

    def to_imported(self, array: np.ndarray) -> np.ndarray:
        """A source-layout array in the imported parameter's layout."""
        array = np.asarray(array)
        if self.rows:
            return np.take(array, self.rows[1], axis=self.rows[0])
        if not self.perm:
            return array
        if self.split:
            viewed = np.transpose(array.reshape(self.split), self.perm)
            shape = array.shape if self.source_shape is None else tuple(self.value.shape)
            return np.ascontiguousarray(viewed).reshape(shape)
        return np.ascontiguousarray(np.transpose(array, self.perm))

    def to_source(self, array: np.ndarray) -> np.ndarray:
        array = np.asarray(array)
        if self.rows:
            return np.take(array, np.argsort(self.rows[1]), axis=self.rows[0])
        if not self.perm:
            return array
        inverse = np.argsort(self.perm)
        if self.split:
            viewed = array.reshape(tuple(self.split[p] for p in self.perm))
            shape = self.source_shape or array.shape
            return np.ascontiguousarray(np.transpose(viewed, inverse)).reshape(shape)
        return np.ascontiguousarray(np.transpose(array, inverse))

    def read(self) -> np.ndarray:
        """The current value, in the source layout."""
        value = self.value
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        else:
            value = value.numpy()
        return self.to_source(value)

    def assign(self, source_array: np.ndarray) -> None:
        """Set the imported parameter from a source-layout array (shape checked)."""
        array = self.to_imported(source_array)
        shape = tuple(self.value.shape)
        if tuple(array.shape) != shape:
            raise InputError(
                f"parameter {self.source_name!r}: checkpoint shape {tuple(np.shape(source_array))} does not "
                f"fit the imported shape {shape} (source layout)"
            )
        if hasattr(self.value, "detach"):
            import torch

            with torch.no_grad():
                self.value.copy_(torch.from_numpy(np.ascontiguousarray(array)).to(self.value.dtype))
        else:
            dtype = self.value.dtype  # tf.DType, or a string for Keras variables
            self.value.assign(array.astype(np.dtype(getattr(dtype, "as_numpy_dtype", dtype))))


def parameter_map(imported) -> dict[str, MappedParameter]:
    """{source name: MappedParameter} for a module from `toolkit.convert(..., to="torch"/"tensorflow")`."""
    attributes = getattr(imported, "onnx_initializer_attributes", None)
    if attributes is not None:
        return _torch_map(imported, attributes)
    variables = getattr(imported, "onnx_variables", None)  # a module from the TensorFlow importer
    if variables is not None:
        layouts = getattr(imported, "onnx_variable_layouts", {})  # name -> (split, source shape)
        return {
            name: MappedParameter(
                name,
                variable.name,
                variable,
                perm,
                bool(variable.trainable),
                split=layouts.get(name, (None, None))[0],
                source_shape=layouts.get(name, (None, None))[1],
            )
            for name, (variable, perm) in variables.items()
        }
    raise InputError(
        f"{type(imported).__name__} is not a module the toolkit imported: convert an ONNX model with "
        "toolkit.convert(..., to='torch' or 'tensorflow') first"
    )


def _torch_map(module, attributes: dict[str, str]) -> dict[str, MappedParameter]:
    parameters = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    layouts = getattr(module, "onnx_initializer_layouts", {})  # name -> (split, perm)
    gathers = getattr(module, "onnx_initializer_gathers", {})  # name -> (axis, index)
    mapped = {}
    for name, attribute in attributes.items():
        if attribute in parameters:
            split, perm = layouts.get(name, (None, None))
            rows = gathers.get(name)
            mapped[name] = MappedParameter(name, attribute, parameters[attribute], perm, True, split, rows)
        elif attribute in buffers and buffers[attribute].is_floating_point():
            mapped[name] = MappedParameter(name, attribute, buffers[attribute], None, False)
    return mapped


def metadata(imported) -> dict[str, str]:
    """The ONNX model's metadata_props, as the import kept them."""
    found = getattr(imported, "onnx_metadata", None)
    if found is not None:
        return dict(found)
    model = getattr(imported, "onnx_model", None)  # a module from the TensorFlow importer
    if model is None:
        return {}
    return {entry.key: entry.value for entry in model.metadata_props}
