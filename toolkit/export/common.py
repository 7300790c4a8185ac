"""What every exporter returns, and the one check every exported model passes before it is returned."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from toolkit.errors import ExportError
from toolkit.io import EXTERNAL_DATA_THRESHOLD, first_line, has_external_data, weight_bytes

EXPORTERS = ("torch.onnx (dynamo)", "torch.onnx (torchscript)", "tf2onnx")


@dataclass
class ExportResult:
    """An exported, checked ONNX model; `notes` says what the exporter had to work around."""

    model: onnx.ModelProto
    exporter: str
    opset: int
    notes: list[str] = field(default_factory=list)


def default_opset(model: onnx.ModelProto) -> int:
    """The model's ai.onnx opset version (the default domain is spelled "" or "ai.onnx")."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise ExportError("exported model imports no ai.onnx opset")


def check_exported(
    model: onnx.ModelProto, label: str, base_dir: str | os.PathLike | None = None
) -> onnx.ModelProto:
    """Run the ONNX checker (full) and strict shape inference; return `model` unchanged.

    The exporter's own value_info is kept: strict inference only proves the graph is consistent.
    A model whose weights are external data in `base_dir` is checked through a file there (the
    in-memory checks serialise the whole model; the file checks read no weights).
    """
    try:
        if has_external_data(model):
            _check_file(model, Path(base_dir))
        elif _too_large(model):
            # protobuf cannot serialise over 2 GB: check through a file with external data.
            with tempfile.TemporaryDirectory() as directory:
                path = os.path.join(directory, "model.onnx")
                # Saving moves the weights out of `model` into the data file: load them back before leaving.
                onnx.save_model(model, path, save_as_external_data=True, location="model.onnx.data")
                try:
                    _check_path(path)
                finally:
                    onnx.load_external_data_for_model(model, directory)
                    for tensor in onnx.external_data_helper._get_all_tensors(model):
                        tensor.ClearField("data_location")
        else:
            onnx.checker.check_model(model, full_check=True)
            onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as error:
        raise ExportError(f"{label}: exported ONNX model fails the checker: {first_line(error)}") from error
    return model


def _check_file(model: onnx.ModelProto, base_dir: Path) -> None:
    """Check a light model (weights in external data under `base_dir`) written beside its data."""
    handle, path = tempfile.mkstemp(prefix=".checked-", suffix=".onnx", dir=base_dir)
    os.close(handle)
    try:
        Path(path).write_bytes(model.SerializeToString())
        _check_path(path)
    finally:
        for leftover in (path, path + ".inferred"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _check_path(path: str) -> None:
    onnx.checker.check_model(path, full_check=True)
    onnx.shape_inference.infer_shapes_path(path, path + ".inferred", strict_mode=True)


def _too_large(model: onnx.ModelProto) -> bool:
    return weight_bytes(model) > EXTERNAL_DATA_THRESHOLD


@dataclass
class ExporterChatter:
    """What an exporter printed and warned while it ran (kept for notes, not shown)."""

    output: io.StringIO = field(default_factory=io.StringIO)
    warnings: list[warnings.WarningMessage] = field(default_factory=list)


@contextlib.contextmanager
def quiet_exporter(logger_names: tuple[str, ...]) -> Iterator[ExporterChatter]:
    """Swallow an exporter's prints, warnings and log chatter; yields them for notes and errors."""
    chatter = ExporterChatter()
    loggers = [logging.getLogger(name) for name in logger_names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            contextlib.redirect_stdout(chatter.output),
            contextlib.redirect_stderr(chatter.output),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            try:
                yield chatter
            finally:
                chatter.warnings.extend(caught)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# Axes toolkit makes dynamic are named for what they are, not after the exporter's symbols (s40, unk__11).
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def name_dynamic_axes(
    model: onnx.ModelProto, dynamic_axes: Mapping[str, Iterable[int] | Mapping[int, str | None]] | None = None
) -> onnx.ModelProto:
    """Rename the symbols of the graph inputs' dynamic axes, everywhere they appear (outputs, value_info).

    A name given as `{input: {axis: name}}` wins; otherwise axis 0 is `batch`, axis 1 of a 2-D integer
    input (token ids) is `sequence`, and any other axis `<input>_dim<axis>`. Inputs whose symbols the
    exporter unified share the name; a default name already taken by another symbol gets the input's name.
    """
    chosen = {
        name: {axis: label for axis, label in axes.items() if label}
        for name, axes in (dynamic_axes or {}).items()
        if isinstance(axes, Mapping)
    }
    initializers = {tensor.name for tensor in model.graph.initializer}
    renames: dict[str, str] = {}
    for graph_input in model.graph.input:
        if graph_input.name in initializers or not graph_input.type.HasField("tensor_type"):
            continue
        tensor = graph_input.type.tensor_type
        rank = len(tensor.shape.dim)
        for axis, dim in enumerate(tensor.shape.dim):
            if not dim.dim_param or dim.dim_param in renames:
                continue
            wanted = {a % rank: label for a, label in chosen.get(graph_input.name, {}).items()}.get(axis)
            if wanted is None:
                wanted = _default_axis_name(graph_input.name, axis, rank, tensor.elem_type)
                if wanted in renames.values():  # two axes the exporter keeps apart stay apart
                    wanted = f"{wanted}_{graph_input.name}"
            renames[dim.dim_param] = wanted
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    for value in values:
        if value.type.HasField("tensor_type"):
            for dim in value.type.tensor_type.shape.dim:
                if dim.dim_param:
                    dim.dim_param = _SYMBOL.sub(lambda m: renames.get(m.group(0), m.group(0)), dim.dim_param)
    return model


def _default_axis_name(input_name: str, axis: int, rank: int, elem_type: int) -> str:
    if axis == 0:
        return "batch"
    integer = elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
    if axis == 1 and rank == 2 and integer:
        return "sequence"
    return f"{input_name}_dim{axis}"
