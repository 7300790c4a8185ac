"""Initializers without copies: a light model for the walker, and the weights as numpy arrays beside it.

An importer needs each weight once, as the framework's tensor. Shape inference, the inliner and the
version converter each serialise the whole model they are given, so they get a light copy whose
large initializers hold no bytes (`detach_weights`); the bytes come back as arrays:

- external data (NAME.onnx.data) is memory-mapped copy-on-write (MAP_PRIVATE): torch parameters
  share the file's pages, and a training step that writes a parameter copies only the pages it
  writes. The mapping stays valid when the file is renamed or deleted (POSIX keeps the inode while
  it is mapped); it must not be truncated or rewritten in place while the module lives (toolkit's
  writers always write a new file and rename it).
- weights inside the .onnx (or an in-memory ModelProto) are copied out once into arrays that own
  their memory, which the framework may then adopt without a second copy.
"""

from __future__ import annotations

import functools
import mmap
import os
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import external_data_helper, helper, numpy_helper

from toolkit.errors import InputError
from toolkit.io import has_external_data, is_external

# Initializers larger than this are detached from the model and, where possible, shared with the
# framework's tensors; smaller ones (shapes, axes, scalars) stay inline, where shape inference's
# data propagation can read them.
LARGE_INITIALIZER_BYTES = 64 * 1024
# A stub's external-data location: the bytes live in the detached arrays, never in a file.
DETACHED = "toolkit-detached-weight"
# Element types whose bytes are a plain little-endian numpy array (no packing, no ml_dtypes).
_PLAIN_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.INT8,
    onnx.TensorProto.UINT8,
    onnx.TensorProto.INT16,
    onnx.TensorProto.UINT16,
    onnx.TensorProto.INT32,
    onnx.TensorProto.UINT32,
    onnx.TensorProto.INT64,
    onnx.TensorProto.UINT64,
    onnx.TensorProto.BOOL,
}


def detach_weights(
    model: onnx.ModelProto, base_dir: str | os.PathLike | None
) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A copy of `model` whose large top-level initializers are stubs without bytes, and their arrays.

    External data is read relative to `base_dir` (the .onnx file's directory); small external
    tensors are loaded into the copy, so every tool that reads values still finds them.
    """
    graph = model.graph
    large = [t for t in graph.initializer if is_external(t) or _inline_bytes(t) > LARGE_INITIALIZER_BYTES]
    if not large and not has_external_data(model):
        return model, {}
    mappings: dict[str, mmap.mmap] = {}
    weights: dict[str, np.ndarray] = {}
    light = _copy_without_initializers(model)
    for tensor in graph.initializer:
        if is_external(tensor):
            array = _external(tensor, base_dir, mappings)
            if array is None:  # small, or not a plain array: its bytes go into the light copy
                loaded = _read_external(_loaded, tensor, base_dir)
                light.graph.initializer.append(loaded)
                continue
        elif _inline_bytes(tensor) > LARGE_INITIALIZER_BYTES:
            array = _owned_array(tensor)
        else:
            light.graph.initializer.append(tensor)
            continue
        weights[tensor.name] = array
        light.graph.initializer.append(_stub(tensor))
    # External tensors elsewhere (subgraph initializers, Constant attributes): loaded into the copy.
    for tensor in external_data_helper._get_all_tensors(light):
        if is_external(tensor) and not is_detached(tensor):
            _read_external(_load_into, tensor, base_dir)
    return light, weights


def _external(tensor: onnx.TensorProto, base_dir, mappings: dict[str, mmap.mmap]) -> np.ndarray | None:
    """A large external initializer's mapped array; None for a small or unmappable one."""
    array = _read_external(functools.partial(_mapped, mappings=mappings), tensor, base_dir)
    if array is not None and array.nbytes > LARGE_INITIALIZER_BYTES:
        return array
    return None


def _read_external(read, tensor: onnx.TensorProto, base_dir):
    """`read(tensor, base_dir)`, its failures (a missing file, bad offsets) as one InputError."""
    try:
        return read(tensor, base_dir)
    except InputError:
        raise
    except Exception as error:  # OSError, ValueError, onnx's ValidationError
        raise InputError(
            f'initializer "{tensor.name}": cannot read its external data under {base_dir} '
            f"({type(error).__name__}: {error}); keep the .data file beside the .onnx"
        ) from None


def initializer_array(tensor: onnx.TensorProto, weights: Mapping[str, np.ndarray]) -> np.ndarray:
    """The initializer's values: its detached array, else its inline bytes."""
    if is_detached(tensor):
        return weights[tensor.name]
    return numpy_helper.to_array(tensor)


def shareable(array: np.ndarray) -> bool:
    """A detached weight a framework may adopt without copying (writable, aligned, plain dtype)."""
    return (
        array.nbytes > LARGE_INITIALIZER_BYTES
        and array.dtype.kind in "biuf"
        and array.flags.writeable
        and array.flags.aligned
        and array.flags.c_contiguous
    )


def release_pages(array: np.ndarray) -> None:
    """Drop the resident pages of a memory-mapped, never-written array once a framework has copied it.

    The pages of a MAP_PRIVATE mapping that nobody wrote are the file's: MADV_DONTNEED only lets the
    kernel drop them from this process (a later read faults them back in from the file).
    """
    mapping, start = _mapping_of(array)
    if mapping is None or not hasattr(mapping, "madvise"):
        return
    page = mmap.PAGESIZE
    first = (start + page - 1) // page * page  # whole pages only: a neighbour may share the edges
    last = (start + array.nbytes) // page * page
    if last > first:
        mapping.madvise(mmap.MADV_DONTNEED, first, last - first)


def _mapping_of(array: np.ndarray) -> tuple[mmap.mmap | None, int]:
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview):  # np.frombuffer's base
        base = base.obj
    if not isinstance(base, mmap.mmap):
        return None, 0
    start = array.__array_interface__["data"][0] - _address(base)
    return base, start


def _address(mapping: mmap.mmap) -> int:
    return np.frombuffer(mapping, dtype=np.uint8, count=1).__array_interface__["data"][0]


def _inline_bytes(tensor: onnx.TensorProto) -> int:
    if tensor.HasField("raw_data"):
        return len(tensor.raw_data)
    try:
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return 0
    count = 1
    for dim in tensor.dims:
        count *= dim
    return count * itemsize


def _copy_without_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every field of `model` but the top graph's initializers, copied (the original is never touched)."""
    light = onnx.ModelProto()
    for descriptor, value in model.ListFields():
        if descriptor.name != "graph":
            _copy_field(light, descriptor, value)
    for descriptor, value in model.graph.ListFields():
        if descriptor.name != "initializer":
            _copy_field(light.graph, descriptor, value)
    return light


def _copy_field(target, descriptor, value) -> None:
    if descriptor.is_repeated:
        getattr(target, descriptor.name).extend(value)
    elif descriptor.type == descriptor.TYPE_MESSAGE:
        getattr(target, descriptor.name).CopyFrom(value)
    else:
        setattr(target, descriptor.name, value)


def _stub(tensor: onnx.TensorProto) -> onnx.TensorProto:
    """The initializer's name, type and dims, its bytes marked as held elsewhere."""
    stub = onnx.TensorProto(name=tensor.name, data_type=tensor.data_type, dims=tensor.dims)
    stub.data_location = onnx.TensorProto.EXTERNAL
    stub.external_data.add(key="location", value=DETACHED)
    return stub


def is_detached(tensor: onnx.TensorProto) -> bool:
    """A stub `detach_weights` left: the initializer's bytes live in the detached arrays."""
    return is_external(tensor) and any(
        entry.key == "location" and entry.value == DETACHED for entry in tensor.external_data
    )


def _owned_array(tensor: onnx.TensorProto) -> np.ndarray:
    """Inline bytes as an array that owns its memory (one copy; to_array's views are read-only)."""
    array = numpy_helper.to_array(tensor)
    return array.copy() if not array.flags.owndata or not array.flags.writeable else array


def _mapped(tensor: onnx.TensorProto, base_dir, mappings: dict[str, mmap.mmap]) -> np.ndarray | None:
    """A copy-on-write view of the tensor's bytes in its data file; None when they are not a plain array."""
    if tensor.data_type not in _PLAIN_TYPES or base_dir is None:
        return None
    info = external_data_helper.ExternalDataInfo(tensor)
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).newbyteorder("<")
    count = 1
    for dim in tensor.dims:
        count *= dim
    offset = int(info.offset or 0)
    if (info.length and int(info.length) != count * dtype.itemsize) or offset % dtype.itemsize:
        return None
    path = os.path.join(os.fspath(base_dir), info.location)
    mapping = mappings.get(path)
    if mapping is None:
        try:
            with open(path, "rb") as handle:
                mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
        except (OSError, ValueError) as error:  # ValueError: mmap of an empty file
            raise InputError(
                f'initializer "{tensor.name}": cannot read its external data {path} ({error}); '
                "keep the .data file beside the .onnx"
            ) from None
        mappings[path] = mapping
    if offset + count * dtype.itemsize > len(mapping):
        raise InputError(
            f'initializer "{tensor.name}": its external data ends past the end of {path}; '
            "the file is truncated or belongs to another model"
        )
    array = np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(tuple(tensor.dims))
    return array.astype(dtype.newbyteorder("="), copy=False)


def _loaded(tensor: onnx.TensorProto, base_dir) -> onnx.TensorProto:
    copy = onnx.TensorProto()
    copy.CopyFrom(tensor)
    _load_into(copy, base_dir)
    return copy


def _load_into(tensor: onnx.TensorProto, base_dir) -> None:
    external_data_helper.load_external_data_for_tensor(tensor, os.fspath(base_dir or "."))
    tensor.data_location = onnx.TensorProto.DEFAULT
    del tensor.external_data[:]
