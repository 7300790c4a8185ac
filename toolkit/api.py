"""The public API: convert() and verify_parity(), dispatching on (source kind, target)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from toolkit.checks import check_model
from toolkit.errors import ExportError, InputError, UsageError
from toolkit.io import check_output, has_external_data, load_onnx, replacing_foreign_directories, save_onnx
from toolkit.sources import Source, as_numpy_tuple, load_source, require_example_inputs

if TYPE_CHECKING:
    from toolkit.parity.run import ParityOptions

TARGETS = ("onnx", "torch", "tensorflow", "tflite")
NOTE_KEY = "toolkit.note"  # metadata_props: what the export recorded about itself
MIN_OPSET = 7
TARGET_ALIASES = {"tf": "tensorflow", "pytorch": "torch"}
# Targets whose result is a native module to train: exported keeping every parameter by default.
IMPORT_TARGETS = ("torch", "tensorflow")


def convert(
    model_or_path: Any,
    to: str = "onnx",
    example_inputs: Any = None,
    input_spec: Mapping[str, Sequence[int]] | None = None,
    opset: int | None = None,
    output: str | Path | None = None,
    dynamic_axes: Mapping[str, Sequence[int]] | None = None,
    force: bool = False,
    trainable: bool | None = None,
    **target_options: Any,
):
    """Convert a model (object or path) to ONNX, torch or TensorFlow; write it when `output` is given.

    `trainable=True` exports for training: every source parameter stays an initializer (named
    after it), BatchNormalization and Dropout stay nodes that follow the import's train/eval mode.
    It is the default for `to="torch"`/`"tensorflow"` from a torch module or Keras model (an import
    is for training); `to="onnx"` keeps the exporters' inference-optimised graph unless asked.

    Returns an `onnx.ModelProto` for `to="onnx"`, a `torch.nn.Module` for `to="torch"` and a
    `tf.Module` for `to="tensorflow"`. Non-ONNX sources always pass through checked ONNX first.
    The output is checked before any work (README, "What toolkit writes"); `force` lets a
    SavedModel that toolkit did not write be replaced.
    `to="tflite"` returns a `toolkit.tflite.convert.Conversion` (the flatbuffer and its interface);
    `target_options` are its `precision` (fp32, fp16, int8, int8-full), `calibration` (.npz),
    `io_layout` (nchw, nhwc) and `static_batch` (fixes the batch; default dynamic, 1 where TFLite needs it).
    """
    target = TARGET_ALIASES.get(to, to)
    if target not in TARGETS:
        raise UsageError(f"unknown target {to!r}; choose one of {', '.join(TARGETS)}")
    if target_options and target != "tflite":
        raise UsageError(f"{', '.join(target_options)}: options of to='tflite' only")
    check_opset(opset)
    with replacing_foreign_directories(force):
        if output is not None:
            check_output(output, target, inputs=paths_read_by(model_or_path))
        return _convert(
            model_or_path,
            target,
            example_inputs,
            input_spec,
            opset,
            output,
            dynamic_axes,
            trainable,
            target_options,
        )


def _convert(
    model_or_path, target, example_inputs, input_spec, opset, output, dynamic_axes, trainable, target_options
):
    source = load_source(model_or_path, example_inputs)
    options = {"input_spec": input_spec, "opset": opset, "dynamic_axes": dynamic_axes}
    # A large torch export keeps its weights in external data here (beside the output, so that
    # writing it is a rename away); importers memory-map them from there.
    with _weights_directory(output) as weights_directory:
        options["weights_directory"] = weights_directory
        if trainable is None and target in IMPORT_TARGETS and exports_for_training(source):
            try:
                onnx_model = to_onnx(source, **options, trainable=True)
            except ExportError as error:  # the import still works, from the inference graph
                onnx_model = to_onnx(source, **options, trainable=False)
                _tag(onnx_model, NOTE_KEY, f"exported for inference, parameters may be folded: {error}")
        else:
            onnx_model = to_onnx(source, **options, trainable=bool(trainable))
        base_dir = _base_dir(onnx_model, source, weights_directory)
        if target == "onnx":
            if output is not None:
                save_onnx(onnx_model, output, base_dir=base_dir, move_data=base_dir == weights_directory)
                # As written: a model whose weights went to NAME.onnx.data refers to them there.
                return load_onnx(output, load_external_data=False) if base_dir is not None else onnx_model
            return _with_weights(onnx_model, base_dir)
        if target == "torch":
            from toolkit.importers import torch as torch_importer

            module = torch_importer.import_onnx(onnx_model, base_dir=base_dir)
            if output is not None:
                torch_importer.save(module, output)
            return module
        if target == "tflite":
            from toolkit.tflite import convert_onnx

            return convert_onnx(
                _with_weights(onnx_model, base_dir), output, label=source.label, **target_options
            )
        from toolkit.importers import tensorflow as tensorflow_importer

        module = tensorflow_importer.import_onnx(onnx_model, base_dir=base_dir)
        if output is not None:
            tensorflow_importer.save_saved_model(module, output)
        return module


@contextlib.contextmanager
def _weights_directory(output):
    """A scratch directory for exported weights, on the output's file system when there is one.

    Importers may memory-map files in it: the mapping outlives the directory (POSIX keeps a mapped
    file until it is unmapped), so it is removed as soon as the conversion returns.
    """
    parent = Path(output).absolute().parent if output is not None else None
    if parent is not None and not parent.is_dir():
        parent = None
    with tempfile.TemporaryDirectory(prefix=".toolkit-weights-", dir=parent) as directory:
        yield Path(directory)


def _base_dir(model: onnx.ModelProto, source: Source, weights_directory: Path) -> Path | None:
    """Where the model's external data lives: the export's scratch directory or the source's folder."""
    if not has_external_data(model):
        return None
    if source.kind == "onnx":  # an in-memory model with external data: onnx's convention, the cwd
        return Path(source.path).absolute().parent if source.path is not None else Path.cwd()
    return weights_directory


def _with_weights(model: onnx.ModelProto, base_dir: Path | None) -> onnx.ModelProto:
    """`model` with its external data loaded into it (the scratch directory does not outlive us)."""
    if base_dir is None:
        return model
    onnx.load_external_data_for_model(model, str(base_dir))
    for tensor in onnx.external_data_helper._get_all_tensors(model):
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]
    return model


def to_onnx(
    source: Source,
    input_spec: Mapping[str, Sequence[int]] | None = None,
    opset: int | None = None,
    dynamic_axes: Mapping[str, Sequence[int]] | None = None,
    trainable: bool = False,
    weights_directory: Path | None = None,
) -> onnx.ModelProto:
    """The checked ONNX form of any source, tagged with the exporter that wrote it.

    With `weights_directory`, a large torch export keeps its weights in external data there
    (the returned model refers to them).
    """
    if source.kind == "onnx":
        check_model(source.model, source.label, path=source.path)
        return _upgrade_opset(source.model, opset, source.label) if opset else source.model
    shapes = {name: tuple(shape) for name, shape in (input_spec or {}).items()}
    if source.kind == "tensorflow" and not shapes and source.example_inputs is None:
        # A SavedModel's serving signature already says what it takes.
        from toolkit.export import export_tensorflow

        result = export_tensorflow(source.model, opset=opset, trainable=trainable)
        return _tagged(result, source)
    example_inputs = require_example_inputs(source, shapes)
    if dynamic_axes:
        _check_dynamic_axes(dynamic_axes, source, example_inputs)
    output_names = _check_runs(source, example_inputs, given_shapes=bool(shapes))
    if source.kind == "torch":
        from toolkit.export import export_torch

        # {input: [axes]} or, with names, {input: {axis: name}} (torch.onnx's own two forms)
        axes = (
            {name: dict(a) if isinstance(a, Mapping) else list(a) for name, a in dynamic_axes.items()}
            if dynamic_axes is not None
            else None
        )
        result = export_torch(
            source.model,
            example_inputs,
            opset=opset,
            input_names=source.input_names,
            output_names=output_names,
            dynamic_axes=axes,
            trainable=trainable,
            keyword_inputs=source.keyword_inputs,
            weights_directory=weights_directory,
        )
    else:
        from toolkit.export import export_tensorflow

        result = export_tensorflow(
            source.model, example_inputs=example_inputs, opset=opset, trainable=trainable
        )
    if opset is not None and result.opset != opset:
        raise UsageError(
            f"--opset {opset}: {result.exporter} wrote opset {result.opset} instead; it cannot produce "
            f"opset {opset}, ask for {result.opset} or another it supports"
        )
    return _tagged(result, source)


def exports_for_training(source: Source) -> bool:
    """Whether the source's exporter can keep its parameters: a torch nn.Module or ExportedProgram,
    a Keras model (a TorchScript file, SavedModel or tf.function has no parameter names to keep)."""
    if source.kind == "keras":
        return True
    if source.kind != "torch":
        return False
    import torch

    return isinstance(source.model, (torch.nn.Module, torch.export.ExportedProgram)) and not isinstance(
        source.model, torch.jit.ScriptModule
    )


def check_opset(opset: int | None) -> None:
    """An opset toolkit cannot produce (or onnx cannot check) is refused before any work."""
    from toolkit.checks import newest_opset

    if opset is not None and not MIN_OPSET <= opset <= newest_opset():
        raise UsageError(f"--opset {opset}: toolkit writes opsets {MIN_OPSET} to {newest_opset()}")


def _check_dynamic_axes(dynamic_axes, source: Source, example_inputs) -> None:
    """--dynamic names an input and axes within its rank, checked before torch.export is asked."""
    names = list(source.input_names or [])
    if not names:  # TorchScript keeps no parameter names: the exporter reports what it cannot match
        return
    for name, axes in dynamic_axes.items():
        if name not in names:
            raise UsageError(
                f"--dynamic {name}:...: {source.label} has no input {name!r}; its inputs are "
                f"{', '.join(names) or '(unnamed)'}"
            )
        rank = np.ndim(example_inputs[names.index(name)]) if names.index(name) < len(example_inputs) else None
        for axis in axes:
            if rank is not None and not -rank <= axis < rank:
                raise UsageError(
                    f"--dynamic {name}:{axis}: input {name!r} has rank {rank} (axes 0 to {rank - 1})"
                )


def paths_read_by(model_or_path: Any) -> list[Path]:
    """The files a source spec reads (a model file, a SavedModel directory, a factory's .py), which
    no output may replace."""
    if not isinstance(model_or_path, (str, Path)):
        return []
    path = Path(model_or_path)
    if path.exists():
        read = [path]
        if path.suffix == ".py":
            read.append(path.with_suffix(".safetensors"))  # the torch importer's generated Python
        return read
    head, separator, _ = str(model_or_path).rpartition(":")
    return [Path(head)] if separator and head and Path(head).exists() else []


def _check_runs(source: Source, example_inputs, given_shapes: bool) -> list[str] | None:
    """Run the source once before exporting: wrong inputs are the user's to fix (exit 2), not an export bug.

    Returns the names of its (nested) outputs, which the ONNX outputs will carry.
    """
    from toolkit.runners import runnable

    model = runnable(source)
    try:
        model.run(list(example_inputs))
    except InputError as error:
        hint = "; check --input-shape" if given_shapes else ""
        raise InputError(f"{error}{hint}") from error
    return model.output_names


def _tagged(result, source: Source) -> onnx.ModelProto:
    """The exported model, recording which exporter wrote it and from what."""
    model = result.model
    _tag(model, "toolkit.exporter", result.exporter)
    _tag(model, "toolkit.source", source.label)
    for note in result.notes:
        _tag(model, NOTE_KEY, note)
    return model


def exporter_of(model: onnx.ModelProto) -> str:
    """Which exporter wrote a model: the toolkit's tag, else the producer recorded in the file."""
    for entry in model.metadata_props:
        if entry.key == "toolkit.exporter":
            return entry.value
    return " ".join(part for part in (model.producer_name, model.producer_version) if part) or "unknown"


def _tag(model: onnx.ModelProto, key: str, value: str) -> None:
    """Set `key` in the model's metadata; notes accumulate in one entry, one per line (the checker
    refuses a model whose metadata_props repeat a key)."""
    for entry in model.metadata_props:
        if entry.key == key:
            entry.value = f"{entry.value}\n{value}" if key == NOTE_KEY and entry.value else value
            return
    model.metadata_props.add(key=key, value=value)


def notes_of(model: onnx.ModelProto) -> list[str]:
    """What the export recorded about itself (fallbacks, fixed axes), one note per line."""
    entries = [e.value for e in model.metadata_props if e.key == NOTE_KEY]
    return [line for value in entries for line in value.split("\n") if line]


def _upgrade_opset(model: onnx.ModelProto, opset: int, label: str) -> onnx.ModelProto:
    try:
        return onnx.version_converter.convert_version(model, opset)
    except Exception as error:
        raise InputError(
            f"{label}: onnx's version converter cannot move the model to opset {opset}: {error}"
        ) from error


def load(path: str | Path, example_inputs: Any = None) -> Any:
    """The native model object behind any supported path (nn.Module, Keras model, ModelProto, ...)."""
    return load_source(path, example_inputs).model


def verify_parity(
    reference: Any,
    candidate: Any,
    inputs: Any = None,
    *,
    options: ParityOptions | None = None,
    provider: str = "auto",
    example_inputs: Any = None,
    train: bool = False,
    **settings: Any,
):
    """Run the reference and each candidate on the same inputs; returns a truthy-on-pass ParityReport.

    `train=True`: training parity instead (toolkit/parity/train_report.py): per-parameter gradients,
    one SGD and one Adam step, BatchNorm running statistics and a 20-step fine-tune; a TrainingReport.

    `candidate` is one model or a list; each is an object or a path (ONNX runs in onnxruntime with
    `provider`). `inputs` is user data (arrays, a dict, or an .npz/.npy path); without it, seeded
    random inputs shaped like the reference's example inputs, at two batch sizes when the batch
    is dynamic, and at a second size of every other axis all models leave dynamic. How it compares
    is a `ParityOptions` (toolkit/parity/run.py), given whole as `options` or as its fields by
    keyword: `rtol`, `atol`, `batch_sizes`, `samples`, `tolerances`, `input_ranges`, `dim_sizes`,
    `input_perm`/`output_perm` (`{"image": (0, 2, 3, 1)}`: NCHW to NHWC) and `localize` (find the
    first diverging ONNX node of a failing candidate: "auto" below 5,000 nodes, True or False).
    """
    from toolkit.parity.run import ParityOptions, verify
    from toolkit.runners import runnable

    if train:
        return _verify_training(reference, candidate, example_inputs)
    if options is not None and settings:
        raise UsageError(f"verify_parity: give options or {', '.join(sorted(settings))}, not both")
    options = options or ParityOptions.from_keywords(settings)
    reference_source = _checked_source(reference, example_inputs)
    reference_runnable = runnable(reference_source, provider=provider)
    candidate_specs = (
        candidate if isinstance(candidate, (list, tuple)) and not _is_array_like(candidate) else [candidate]
    )
    if not candidate_specs:
        raise UsageError("no candidate to compare with the reference")
    # A candidate that cannot even be loaded is an input error (exit 2), found before any run.
    candidate_sources = [_checked_source(spec) for spec in candidate_specs]
    candidates = [runnable(source, provider=provider) for source in candidate_sources]
    user_inputs = read_inputs(inputs, reference_runnable) if inputs is not None else None
    templates = None
    if user_inputs is None:
        templates = _templates(reference_source, candidates)
    else:
        _check_against_example(user_inputs, reference_source, inputs)
    return verify(
        reference_runnable,
        candidates,
        options,
        example_inputs=templates,
        user_inputs=user_inputs,
        reference_source=reference_source,
        candidate_sources=candidate_sources,
    )


def _verify_training(reference: Any, candidate: Any, example_inputs: Any):
    from toolkit.parity.train_report import verify_training_sources

    if isinstance(candidate, (list, tuple)):
        if len(candidate) != 1:
            raise UsageError("--train compares one candidate with the reference")
        candidate = candidate[0]
    return verify_training_sources(reference, candidate, example_inputs)


def _checked_source(spec: Any, example_inputs: Any = None) -> Source:
    """A model spec loaded; an ONNX model also passes the checker first."""
    source = load_source(spec, example_inputs)
    if source.kind == "onnx":
        check_model(source.model, source.label, path=source.path)
    return source


def _check_against_example(values: list[np.ndarray], source: Source, label: Any) -> None:
    """User data must have the example's dtypes and ranks: a torch model would fail deep inside otherwise."""
    example = source.example_inputs
    if example is None or len(example) != len(values):
        return
    names = source.input_names or [f"input {i}" for i in range(len(values))]
    where = label if isinstance(label, (str, Path)) else "inputs"
    for name, value, template in zip(names, values, example, strict=False):
        if value.dtype != template.dtype:
            raise InputError(
                f"{where}: input {name!r} has dtype {value.dtype}, the model takes {template.dtype}; "
                f"save it with .astype(np.{template.dtype})"
            )
        if value.ndim != template.ndim:
            raise InputError(
                f"{where}: input {name!r} has shape {list(value.shape)}, the model takes rank {template.ndim} "
                f"(example shape {list(template.shape)})"
            )


def _is_array_like(value: Any) -> bool:
    return isinstance(value, tuple) and any(isinstance(v, np.ndarray) for v in value)


def _templates(source: Source, candidates: list) -> tuple[np.ndarray, ...] | None:
    """Example inputs to shape random data: the reference's, else a torch/Keras candidate's, else specs."""
    if source.example_inputs is not None:
        return source.example_inputs
    if source.kind == "keras":
        return require_example_inputs(source)
    return None


def read_inputs(inputs: Any, reference) -> list[np.ndarray]:
    """User data as a list in the reference's input order: arrays, a dict, or an .npz/.npy file."""
    names = [spec.name for spec in reference.input_specs] if reference.input_specs else None
    if isinstance(inputs, (str, Path)):
        path = Path(inputs)
        if not path.exists():
            raise InputError(f"{path}: no such inputs file")
        try:
            loaded = np.load(path, allow_pickle=False)
        except Exception as error:
            raise InputError(f"{path}: not a readable .npz/.npy file ({error})") from error
        inputs = dict(loaded.items()) if hasattr(loaded, "files") else (loaded,)
        label = str(path)
    else:
        label = "inputs"
    if isinstance(inputs, Mapping):
        if names is None:
            return list(as_numpy_tuple(dict(inputs), label))
        missing = [name for name in names if name not in inputs]
        unknown = [name for name in inputs if name not in names]
        if missing:
            hint = f"; it has {', '.join(unknown)}" if unknown else ""
            raise InputError(
                f"{label}: missing input(s) {', '.join(missing)} (the model takes {', '.join(names)}){hint}"
            )
        return list(as_numpy_tuple([inputs[name] for name in names], label))
    values = list(as_numpy_tuple(inputs, label))
    if names is not None and len(values) != len(names):
        raise InputError(
            f"{label}: {len(values)} array(s) given, the model takes {len(names)} ({', '.join(names)})"
        )
    return values
