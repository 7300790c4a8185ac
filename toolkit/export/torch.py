"""PyTorch to ONNX with torch.onnx: the dynamo exporter first, TorchScript when dynamo cannot trace."""

from __future__ import annotations

import inspect
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

import toolkit.io
from toolkit.errors import ExportError, UsageError
from toolkit.export.common import (
    ExportResult,
    check_exported,
    default_opset,
    name_dynamic_axes,
    quiet_exporter,
)
from toolkit.io import first_line

DYNAMO = "torch.onnx (dynamo)"
TORCHSCRIPT = "torch.onnx (torchscript)"
# The TorchScript exporter's own default is older; 17 is the newest it handles well.
TORCHSCRIPT_DEFAULT_OPSET = 17
# torch.export specialises dimensions of size 0 and 1: examples are grown to this along dynamic axes.
SMALLEST_DYNAMIC_SIZE = 2
_CHATTY_LOGGERS = ("torch", "onnxscript", "onnx_ir")
# A large export's file in the weights directory, and the alignment of its weights in NAME.data.
EXPORTED_MODEL_NAME = "model.onnx"
EXTERNAL_DATA_PAGE = 4096
# torch.onnx colours its error messages; a one-line report keeps the words only.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def export_torch(
    module: Any,
    example_inputs: Sequence[Any],
    *,
    opset: int | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, Sequence[int]] | None = None,
    trainable: bool = False,
    keyword_inputs: bool = False,
    weights_directory: Path | None = None,
) -> ExportResult:
    """Export an nn.Module, ExportedProgram or ScriptModule to a checked, self-contained ONNX model.

    Axis 0 of every input is dynamic, and axis 1 of token inputs (integer, rank 2: ids and masks),
    unless `dynamic_axes` says otherwise (`{}`: fully static). `keyword_inputs` calls the module as
    `module(**dict(zip(input_names, example_inputs)))`, as a dict of examples asks.
    `trainable`: every parameter and buffer stays an initializer named after its state_dict key
    (`_export_for_training`); otherwise the dynamo exporter's optimised inference graph, in which
    BatchNormalization is fused into Conv and constant biases are folded.
    `weights_directory`: where the dynamo exporter writes weights over EXTERNAL_WEIGHTS_THRESHOLD,
    straight from the torch tensors, as external data; the returned model refers to them there.
    """
    import torch

    tensors = tuple(_as_tensor(value) for value in example_inputs)
    names = list(input_names) if input_names is not None else default_input_names(module, len(tensors))
    if len(names) != len(tensors):
        raise UsageError(f"{len(names)} input name(s) given for {len(tensors)} example input(s)")
    axes = _resolve_dynamic_axes(names, tensors, dynamic_axes)
    # Sequence axes the user did not ask for stay dynamic only where the model lets them.
    sequences = _free_sequences(tensors) if dynamic_axes is None else set()
    optional = {name: [1] for index, name in enumerate(names) if index in sequences}
    tensors, notes = _grow_small_dynamic_axes(names, tensors, axes)
    labels = axis_labels(names, tensors, axes, dynamic_axes)

    if trainable:
        model, exporter = _export_for_training(
            module, tensors, names, axes, opset, keyword_inputs, optional, notes
        )
    elif isinstance(module, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        model = _export_torchscript(module, tensors, names, axes, opset, notes, labels=labels)
        exporter = TORCHSCRIPT
    else:
        if isinstance(module, torch.nn.Module):
            module = module.eval()
        try:
            model, axes = _export_dynamo_batch_fallback(
                module,
                tensors,
                names,
                axes,
                opset,
                keyword_inputs,
                optional,
                notes,
                weights_directory,
                labels=labels,
            )
            exporter = DYNAMO
        except Exception as dynamo_error:
            if isinstance(module, torch.export.ExportedProgram):
                raise ExportError(
                    f"torch.onnx (dynamo) cannot export the ExportedProgram: {_reason(dynamo_error)}"
                ) from dynamo_error
            notes.append(f"dynamo export failed ({_reason(dynamo_error)}); used the TorchScript exporter")
            try:
                positional = _keyword_call(module, names) if keyword_inputs else module
                model = _export_torchscript(positional, tensors, names, axes, opset, notes, labels=labels)
            except Exception as torchscript_error:
                raise ExportError(
                    f"torch.onnx cannot export the module: dynamo: {_reason(dynamo_error)}; "
                    f"TorchScript: {_reason(torchscript_error)}"
                ) from torchscript_error
            exporter = TORCHSCRIPT
        else:
            if not isinstance(module, torch.export.ExportedProgram):
                model, exporter = _unless_dynamo_fixed_an_axis(
                    module, model, tensors, names, axes, labels, opset, keyword_inputs, notes
                )

    if output_names is not None and len(output_names) != len(model.graph.output):
        notes.append(
            f"the module returns {len(output_names)} tensors, the exported graph {len(model.graph.output)}: "
            "outputs named by position"
        )
        output_names = None
    model = name_dynamic_axes(name_outputs(model, output_names), dynamic_axes)
    notes.extend(
        _specialised_axes(model, {n: [a for a in x if a not in optional.get(n, ())] for n, x in axes.items()})
    )
    check_exported(model, exporter, base_dir=weights_directory)
    return ExportResult(model=model, exporter=exporter, opset=default_opset(model), notes=notes)


def _export_for_training(module, tensors, names, axes, opset, keyword_inputs, optional, notes):
    """Every source parameter and buffer an initializer named after it, nothing else a float initializer.

    torch.onnx's TorchScript exporter in TrainingMode.TRAINING without constant folding keeps
    Dropout and BatchNormalization as training-aware nodes. Where TorchScript cannot trace the
    module, and for an ExportedProgram, the dynamo exporter runs with `optimize=False`: its
    optimizer is what fuses BatchNormalization into Conv and folds constant biases, and without it
    every parameter and BatchNormalization stay, but Dropout (traced in eval mode) does not.
    """
    import torch

    from toolkit.export.trainable import only_source_initializers, strip_initializer_prefix

    if isinstance(module, torch.export.ExportedProgram):
        model, axes = _export_dynamo_batch_fallback(
            module, tensors, names, axes, opset, keyword_inputs, optional, notes, optimize=False
        )
        signature = module.graph_signature
        return only_source_initializers(model, signature.parameters, signature.buffers), DYNAMO
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule):
        raise UsageError(
            "a trainable torch export needs an nn.Module or ExportedProgram (its parameters name the "
            "initializers), not a TorchScript module"
        )
    # A frozen parameter (requires_grad=False: Whisper's positional table) is a constant of the graph.
    parameters = [name for name, parameter in module.named_parameters() if parameter.requires_grad]
    buffers = dict(module.named_buffers())
    try:
        traced = _keyword_call(module, names) if keyword_inputs else module
        model = _export_torchscript(traced, tensors, names, axes, opset, notes, training=True)
        if keyword_inputs:
            model = strip_initializer_prefix(model, KEYWORD_CALL_PREFIX)
        model = only_source_initializers(keep_training_nodes_for_inference(model), parameters, buffers)
        return model, TORCHSCRIPT
    except Exception as torchscript_error:
        try:
            model, axes = _export_dynamo_batch_fallback(
                module.eval(), tensors, names, axes, opset, keyword_inputs, optional, notes, optimize=False
            )
        except Exception as dynamo_error:
            raise ExportError(
                f"torch.onnx cannot export the module for training: TorchScript: {_reason(torchscript_error)}; "
                f"dynamo: {_reason(dynamo_error)}"
            ) from dynamo_error
        notes.append(
            f"TorchScript cannot trace the module for training ({_reason(torchscript_error)}): exported "
            "with dynamo unoptimised; every parameter kept, Dropout not exported (inference only)"
        )
        return only_source_initializers(model, parameters, buffers), DYNAMO


def _export_dynamo_batch_fallback(
    module,
    tensors,
    names,
    axes,
    opset,
    keyword_inputs,
    optional,
    notes,
    weights_directory=None,
    optimize=True,
    labels=None,
):
    """Dynamo with dynamic sequence axes, else with the batch axis only (the model fixes its length)."""
    try:
        model = _export_dynamo(
            module, tensors, names, axes, opset, keyword_inputs, optional, weights_directory, optimize, labels
        )
        return model, axes
    except Exception as error:
        if not optional:
            raise
        batch_only = {
            name: [a for a in name_axes if a not in optional.get(name, ())]
            for name, name_axes in axes.items()
        }
        model = _export_dynamo(
            module,
            tensors,
            names,
            batch_only,
            opset,
            keyword_inputs,
            weights_directory=weights_directory,
            optimize=optimize,
            labels=labels,
        )
        notes.append(
            f"dynamo cannot export a dynamic sequence length ({_reason(error)}); the sequence length is fixed"
        )
        return model, batch_only


def default_input_names(module: Any, count: int) -> list[str]:
    """The forward() parameter names (user inputs of an ExportedProgram); `input_<i>` when unknown."""
    import torch

    names: list[str] = []
    if isinstance(module, torch.export.ExportedProgram):
        names = [
            spec.arg.name
            for spec in module.graph_signature.input_specs
            if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT
        ]
    elif isinstance(module, torch.jit.ScriptModule):
        try:
            names = [argument.name for argument in module.forward.schema.arguments[1:]]
        except (AttributeError, RuntimeError):
            names = []
    else:
        forward = module.forward if isinstance(module, torch.nn.Module) else module
        try:
            parameters = inspect.signature(forward).parameters.values()
        except (TypeError, ValueError):
            parameters = []
        for parameter in parameters:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.KEYWORD_ONLY):
                break
            names.append(parameter.name)
    if len(names) < count or len(set(names[:count])) < count:
        return [f"input_{index}" for index in range(count)]
    return names[:count]


def _reason(error: BaseException) -> str:
    """The root cause in one line: torch.onnx wraps it in a generic "step 1/3 failed" error."""
    root = error
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    return f"{type(root).__name__}: {_ANSI_ESCAPE.sub('', first_line(root))}"


def _as_tensor(value: Any):
    import torch

    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))


def _resolve_dynamic_axes(names, tensors, dynamic_axes) -> dict[str, list[int]]:
    """{input name: dynamic axes}; the default is the batch axis of every input, and the sequence of tokens."""
    if dynamic_axes is None:
        sequences = _free_sequences(tensors)
        return {
            name: [0, 1] if index in sequences else [0]
            for index, (name, tensor) in enumerate(zip(names, tensors, strict=True))
            if tensor.dim() > 0
        }
    unknown = sorted(set(dynamic_axes) - set(names))
    if unknown:
        raise UsageError(
            f"dynamic_axes names unknown input(s) {', '.join(unknown)}; inputs are {', '.join(names)}"
        )
    resolved = {}
    for name, tensor in zip(names, tensors, strict=True):
        axes = sorted({axis % tensor.dim() for axis in dynamic_axes.get(name, ())}) if tensor.dim() else []
        if axes:
            resolved[name] = axes
    return resolved


def is_token_input(tensor) -> bool:
    """Token ids and transformers' attention masks: integer (batch, sequence) tensors.

    Boolean masks are left out: torch.nn's key-padding masks follow a float input whose length is fixed.
    """
    import torch

    return tensor.dim() == 2 and tensor.dtype != torch.bool and not tensor.dtype.is_floating_point


def _free_sequences(tensors) -> set[int]:
    """Token inputs whose length may vary: none other input (a bool padding mask, a float sequence)
    has that length on its axis 1, which would tie them to a size the exporter cannot see through."""
    tokens = {index for index, tensor in enumerate(tensors) if is_token_input(tensor)}
    other_lengths = {
        int(tensor.shape[1])
        for index, tensor in enumerate(tensors)
        if index not in tokens and tensor.dim() >= 2
    }
    return {index for index in tokens if int(tensors[index].shape[1]) not in other_lengths}


KEYWORD_CALL_PREFIX = "module."  # the wrapped module's attribute in _keyword_call


def _keyword_call(module, names):
    """A module taking keyword inputs, called positionally: the TorchScript exporter passes positions."""
    import torch

    class KeywordCall(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module  # its state_dict keys gain KEYWORD_CALL_PREFIX

        def forward(self, *inputs):
            return self.module(**dict(zip(names, inputs, strict=True)))

    return KeywordCall()


def _grow_small_dynamic_axes(names, tensors, axes):
    """Repeat examples along dynamic axes of size 0 or 1, which torch.export would bake in as constants."""
    notes = []
    grown = []
    for name, tensor in zip(names, tensors, strict=True):
        for axis in axes.get(name, ()):
            if 0 < tensor.shape[axis] < SMALLEST_DYNAMIC_SIZE:
                repeats = [1] * tensor.dim()
                repeats[axis] = SMALLEST_DYNAMIC_SIZE
                tensor = tensor.repeat(*repeats)
                notes.append(f"input {name!r}: example repeated to size 2 along dynamic axis {axis}")
        grown.append(tensor)
    return tuple(grown), notes


def _export_dynamo(
    module,
    tensors,
    names,
    axes,
    opset,
    keyword_inputs=False,
    optional=None,
    weights_directory=None,
    optimize=True,
    labels=None,
) -> onnx.ModelProto:
    """torch.onnx (dynamo) with one symbol per axis name that several inputs share.

    Dim.DYNAMIC gives every axis its own symbol, and torch.export merges two only when the model
    proves them equal: GPT-2's attention_mask merely broadcasts against input_ids, so the graph
    would declare a mask length apart from the ids'. One named Dim per shared name (`batch`,
    `sequence`) says they are one. Named Dims are strict where hints are lenient: torch.onnx
    applies torch.export's suggested fixes (a range such as max=64 from a position table, or a
    constant), so a shared axis that came out fixed is refused here as Dim.DYNAMIC would refuse
    it (optional axes excepted: Dim.AUTO's behaviour); a violation the fixes cannot settle retries
    with today's per-axis hints and names the declared axes after their shared name instead.
    """
    import torch

    from toolkit.export.translations import translation_table

    optional = optional or {}
    exported_program = isinstance(module, torch.export.ExportedProgram)
    labels = labels if labels is not None else dynamic_dim_names(names, tensors, axes)
    shared = {} if exported_program else _shared_dims(names, tensors, axes, labels)

    def dim(name: str, axis: int, named: bool):
        if named and (name, axis) in shared:
            return shared[name, axis]
        # Dim.DYNAMIC for an axis of its own: no range to guess, and torch.export reports
        # specialisation; Dim.AUTO for the optional axes: fixed without error where the model fixes them.
        return torch.export.Dim.AUTO if axis in optional.get(name, ()) else torch.export.Dim.DYNAMIC

    def dynamic_shapes(named: bool):
        if exported_program:
            return None
        shapes = tuple(
            {axis: dim(name, axis, named) for axis in axes[name]} if name in axes else None for name in names
        )
        return dict(zip(names, shapes, strict=True)) if keyword_inputs else shapes

    args, kwargs = tensors, None
    if keyword_inputs:
        args, kwargs = (), dict(zip(names, tensors, strict=True))

    def export(named: bool):
        with quiet_exporter(_CHATTY_LOGGERS):
            return torch.onnx.export(
                module,
                args,
                kwargs=kwargs,
                dynamo=True,
                verbose=False,
                input_names=list(names),
                opset_version=opset,
                dynamic_shapes=dynamic_shapes(named),
                optimize=optimize,
                custom_translation_table=translation_table(opset),
            )

    try:
        model = _program_model(export(named=bool(shared)), weights_directory)
    except Exception as error:
        if not shared or not _is_constraint_violation(error):
            raise
        model = _program_model(export(named=False), weights_directory)
        # The per-axis hints gave each input its own symbol: declare the shared axes as one.
        return name_dynamic_axes(model, _labels_of(shared, labels))
    _refuse_fixed_shared_axes(model, shared, optional)
    return model


def _shared_dims(names, tensors, axes, labels) -> dict[tuple[str, int], Any]:
    """{(input, axis): torch.export.Dim} for axis names two or more inputs share at one example size.

    Axes of one name and different example sizes (a batch of 2 beside a table of 5 rows) cannot be
    one symbol: they keep a hint each, as do axes whose name no other input carries.
    """
    import torch

    members: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for name, tensor in zip(names, tensors, strict=True):
        for axis in axes.get(name, ()):
            label = labels.get(name, {}).get(axis)
            if label:
                members.setdefault((label, int(tensor.shape[axis])), []).append((name, axis))
    shared: dict[tuple[str, int], Any] = {}
    taken: set[str] = set()
    for (label, _size), group in members.items():
        if len(group) < 2:
            continue
        symbol = re.sub(r"\W", "_", label)
        symbol = symbol if symbol.isidentifier() else f"d_{symbol}"
        while symbol in taken:  # one name at two example sizes: two symbols
            symbol += "_"
        taken.add(symbol)
        dim = torch.export.Dim(symbol)
        shared.update({member: dim for member in group})
    return shared


def _labels_of(shared, labels) -> dict[str, dict[int, str]]:
    named: dict[str, dict[int, str]] = {}
    for name, axis in shared:
        named.setdefault(name, {})[axis] = labels[name][axis]
    return named


def _is_constraint_violation(error: BaseException) -> bool:
    """torch.export's strictness about named Dims (a range or relation it inferred), at any depth."""
    import torch

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, torch._dynamo.exc.UserError):
            return True
        error = error.__cause__ or error.__context__
    return False


def _refuse_fixed_shared_axes(model, shared, optional) -> None:
    """A shared axis that must stay dynamic and came out a constant fails, as Dim.DYNAMIC fails."""
    dims = {i.name: i.type.tensor_type.shape.dim for i in model.graph.input}
    for name, axis in shared:
        if axis in optional.get(name, ()) or name not in dims or axis >= len(dims[name]):
            continue
        if dims[name][axis].HasField("dim_value"):
            raise ExportError(
                f"torch.export fixed input {name!r} axis {axis} to {dims[name][axis].dim_value}, "
                "which was asked dynamic"
            )


def _unless_dynamo_fixed_an_axis(module, model, tensors, names, axes, labels, opset, keyword_inputs, notes):
    """The dynamo export, or TorchScript's where dynamo baked an example size into the graph along a
    dynamic axis (`axis_check`: one run at a second size) and TorchScript's graph holds there."""
    from toolkit.export.axis_check import fixed_axes

    exported = {name: {axis: labels[name][axis] for axis in axes[name]} for name in axes}
    fixed = fixed_axes(module, model, names, tensors, exported, keyword_inputs)
    if not fixed:
        return model, DYNAMO
    reason = "; ".join(axis.describe() for axis in fixed)
    torchscript_notes: list[str] = []
    try:
        positional = _keyword_call(module, names) if keyword_inputs else module
        torchscript = _export_torchscript(
            positional, tensors, names, axes, opset, torchscript_notes, labels=labels
        )
        still_fixed = fixed_axes(module, torchscript, names, tensors, exported, keyword_inputs)
    except Exception as error:
        notes.append(f"{reason}; the TorchScript exporter cannot export it either ({_reason(error)})")
        return model, DYNAMO
    if still_fixed:
        notes.append(f"{reason}; the TorchScript exporter fixes it too ({still_fixed[0].problem})")
        return model, DYNAMO
    notes.append(f"{reason}; used the TorchScript exporter")
    notes.extend(torchscript_notes)
    return torchscript, TORCHSCRIPT


def _program_model(program, weights_directory: Path | None) -> onnx.ModelProto:
    """The ONNXProgram as a ModelProto. `model_proto` copies every weight into protobuf; a large
    model is instead written to `weights_directory` with external data, read from the torch
    tensors one at a time, and loaded without it."""
    import onnx_ir

    initializers = program.model.graph.initializers.values()
    size = sum(value.const_value.nbytes for value in initializers if value.const_value is not None)
    if weights_directory is None or size <= toolkit.io.EXTERNAL_WEIGHTS_THRESHOLD:
        return program.model_proto
    path = Path(weights_directory) / EXPORTED_MODEL_NAME
    onnx_ir.save(
        program.model,
        path,
        external_data=EXPORTED_MODEL_NAME + ".data",
        size_threshold_bytes=1024,  # shapes and axes stay inline, where shape inference reads them
        alignment=EXTERNAL_DATA_PAGE,  # page-aligned offsets: importers memory-map the weights
    )
    return onnx.load(str(path), load_external_data=False)


def _export_torchscript(
    module, tensors, names, axes, opset, notes: list[str], training=False, labels=None
) -> onnx.ModelProto:
    import torch

    from toolkit.export.translations import torchscript_symbolics

    was_training = getattr(module, "training", False)
    # A TRAINING export runs forward in training mode, which moves BatchNorm's running statistics.
    saved_state = {n: b.detach().clone() for n, b in module.named_buffers()} if training else {}

    buffer = io.BytesIO()
    axis_names = labels if labels is not None else dynamic_dim_names(names, tensors, axes)
    axis_names = {name: {axis: axis_names[name][axis] for axis in axes[name]} for name in axes}
    with (
        quiet_exporter(_CHATTY_LOGGERS) as chatter,
        torch.no_grad(),
        torchscript_symbolics(opset or TORCHSCRIPT_DEFAULT_OPSET),
    ):
        torch.onnx.export(
            module,
            tensors,
            buffer,
            dynamo=False,
            verbose=False,
            input_names=list(names),
            opset_version=opset or TORCHSCRIPT_DEFAULT_OPSET,
            dynamic_axes=axis_names,
            do_constant_folding=not training,
            training=torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL,
        )
    if isinstance(module, torch.nn.Module):
        module.train(was_training)
        with torch.no_grad():
            for name, state in module.named_buffers():
                if name in saved_state:
                    state.copy_(saved_state[name])
    for caught in chatter.warnings:
        if issubclass(caught.category, torch.jit.TracerWarning):
            # Tracing records one path through Python control flow; the user must know which inputs it fits.
            notes.append(f"TorchScript tracing froze a Python value: {first_line(caught.message)}")
            break
    model = onnx.load_from_string(buffer.getvalue())
    if saved_state:
        # The exporter reads the buffers after its training-mode trace moved them: the values before.
        for initializer in model.graph.initializer:
            if initializer.name in saved_state:
                value = saved_state[initializer.name].cpu().numpy()
                initializer.CopyFrom(onnx.numpy_helper.from_array(value, initializer.name))
    return model


def keep_training_nodes_for_inference(model: onnx.ModelProto) -> onnx.ModelProto:
    """A TRAINING export's BatchNormalization and Dropout nodes, set to inference.

    onnxruntime then computes what the eval-mode source computes, while the nodes (and the
    running statistics as initializers) stay for the importers, which follow the module's mode.
    """
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            del node.output[1:]
            for attribute in node.attribute:
                if attribute.name == "training_mode":
                    attribute.i = 0
        elif node.op_type == "Dropout":
            del node.input[2:]
            if len(node.output) > 1 and not _read(model, node.output[1]):
                del node.output[1:]
    used = _names_read(model.graph)  # a Loop body reads outer constants by name
    unused = [node for node in model.graph.node if node.op_type == "Constant" and node.output[0] not in used]
    for node in unused:
        model.graph.node.remove(node)
    return model


def _names_read(graph: onnx.GraphProto) -> set[str]:
    names = {name for node in graph.node for name in node.input}
    for node in graph.node:
        for attribute in node.attribute:
            for subgraph in (
                [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs
            ):
                names |= _names_read(subgraph)
    return names


def _read(model: onnx.ModelProto, name: str) -> bool:
    return any(name in node.input for node in model.graph.node) or any(
        o.name == name for o in model.graph.output
    )


def dynamic_dim_names(names, tensors, axes) -> dict[str, dict[int, str]]:
    """The dim_param of each dynamic axis: "batch"; "sequence" for token inputs of one length.

    Token inputs of the example's same length (input_ids and attention_mask) share one sequence
    length; a token input of another length (decoder_input_ids) gets its own.
    """
    lengths: list[int] = []
    named: dict[str, dict[int, str]] = {}
    for name, tensor in zip(names, tensors, strict=True):
        for axis in axes.get(name, ()):
            if axis == 0:
                named.setdefault(name, {})[axis] = "batch"
            elif axis == 1 and is_token_input(tensor):
                length = int(tensor.shape[1])
                if length not in lengths:
                    lengths.append(length)
                group = lengths.index(length)
                named.setdefault(name, {})[axis] = "sequence" if group == 0 else f"sequence_{group + 1}"
            else:
                named.setdefault(name, {})[axis] = f"{name}_dim{axis}"
    return named


def axis_labels(names, tensors, axes, dynamic_axes=None) -> dict[str, dict[int, str]]:
    """The name of each dynamic axis: the one asked for (`--dynamic input_ids:1=tokens`), else
    dynamic_dim_names'. Inputs whose axes carry one name share one symbol in the exported graph."""
    labels = dynamic_dim_names(names, tensors, axes)
    for name, chosen in (dynamic_axes or {}).items():
        if not isinstance(chosen, Mapping) or name not in labels:
            continue
        rank = tensors[list(names).index(name)].dim()
        for axis, label in chosen.items():
            if label and axis % rank in labels[name]:
                labels[name][axis % rank] = label
    return labels


def _specialised_axes(model: onnx.ModelProto, axes: Mapping[str, Sequence[int]]) -> list[str]:
    """Notes for asked-for dynamic axes that the exporter fixed to a size anyway."""
    notes = []
    for graph_input in model.graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        for axis in axes.get(graph_input.name, ()):
            if axis < len(dims) and dims[axis].HasField("dim_value"):
                notes.append(
                    f"input {graph_input.name!r}: axis {axis} was asked dynamic but the exporter fixed it "
                    f"to {dims[axis].dim_value}"
                )
    return notes


def name_outputs(model: onnx.ModelProto, output_names: Sequence[str] | None) -> onnx.ModelProto:
    """Rename graph outputs to `output_names`, or `output` / `output_<i>` when none are given."""
    import onnx_ir

    count = len(model.graph.output)
    if output_names is None:
        output_names = ["output"] if count == 1 else [f"output_{index}" for index in range(count)]
    if len(output_names) != count:
        raise UsageError(f"{len(output_names)} output name(s) given for a model with {count} output(s)")
    if [output.name for output in model.graph.output] == list(output_names):
        return model
    ir_model = onnx_ir.serde.deserialize_model(model)
    # An onnx_ir value is one object wherever it is used: renaming it renames every reference.
    for value, name in zip(ir_model.graph.outputs, output_names, strict=True):
        value.name = name
    return onnx_ir.serde.serialize_model(ir_model)
