"""What is this path? Every model form a user can hand the toolkit, loaded into one `Source`.

Forms: `file.py:factory`, `package.module:factory`, a torch `.pt2` ExportedProgram, a TorchScript
file, a Keras `.keras`/`.h5` file, a SavedModel directory, an `.onnx` file, and the torch
importer's generated `.py` (with its `.safetensors` beside it).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import InputError, UsageError
from toolkit.io import first_line, load_onnx

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclass
class Source:
    """A loaded model and what is known about calling it."""

    kind: str  # "onnx", "torch", "keras", "tensorflow"
    model: Any
    label: str
    example_inputs: tuple[np.ndarray, ...] | None = None
    input_names: list[str] | None = None
    # True when the model is called with keywords (`model(**inputs)`), as a dict of example inputs asks.
    keyword_inputs: bool = False
    details: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # the file it was loaded from, when runtimes can read it themselves


def load_source(spec: Any, example_inputs: Any = None) -> Source:
    """A `Source` from a path/spec string or an in-memory model object."""
    if not isinstance(spec, (str, Path)):
        return from_object(spec, label=type(spec).__name__, example_inputs=example_inputs)
    text = str(spec)
    if _is_factory_spec(text):
        return _from_factory(text, example_inputs)
    path = Path(text)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            return _from_saved_model(path)
        raise InputError(f"{path}: a directory that is not a SavedModel (no saved_model.pb inside)")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        # Weights in external data stay there (the proto is light): importers memory-map them,
        # onnxruntime and the checker read the file; what needs them in memory loads them.
        return Source("onnx", load_onnx(path, load_external_data=False), str(path), path=path)
    if suffix == ".tflite":  # run by LiteRT (toolkit/tflite/runner.py); the file is the model
        return Source("tflite", str(path), str(path), path=path)
    if suffix == ".pt2":
        return _from_exported_program(path)
    if suffix in KERAS_SUFFIXES:
        return _from_keras_file(path)
    if suffix in TORCHSCRIPT_SUFFIXES:
        return _from_torchscript(path)
    if suffix == ".py":
        return _from_generated_python(path)
    raise InputError(
        f"{path}: unknown model format {suffix or '(no suffix)'}; expected .onnx, .tflite, .pt2, TorchScript "
        f"({', '.join(TORCHSCRIPT_SUFFIXES)}), .keras/.h5, a SavedModel directory or file.py:factory"
    )


def _is_factory_spec(text: str) -> bool:
    if ":" not in text:
        return False
    head, _, factory = text.rpartition(":")
    return bool(head) and factory.isidentifier() and not Path(text).exists()


def _from_factory(text: str, example_inputs: Any) -> Source:
    target, _, factory_name = text.rpartition(":")
    module = _import_target(target)
    factory = getattr(module, factory_name, None)
    if factory is None or not callable(factory):
        raise InputError(f"{text}: {target} has no callable {factory_name!r}")
    try:
        produced = factory()
    except SystemExit as error:  # a script-style factory must not decide toolkit's exit code
        raise InputError(
            f"{text}: the factory called sys.exit({error.code!r}) instead of returning a model"
        ) from error
    except Exception as error:
        raise InputError(f"{text}: the factory raised {type(error).__name__}: {first_line(error)}") from error
    model, produced_inputs = produced if _is_model_and_inputs(produced) else (produced, None)
    if example_inputs is None:
        example_inputs = produced_inputs
    if example_inputs is None and callable(getattr(module, "example_inputs", None)):
        try:
            example_inputs = module.example_inputs()
        except (Exception, SystemExit) as error:
            raise InputError(
                f"{text}: example_inputs() raised {type(error).__name__}: {first_line(error)}"
            ) from error
    source = from_object(model, label=text, example_inputs=example_inputs)
    declared = getattr(module, "INPUT_NAMES", None)
    if declared and source.example_inputs is not None and len(declared) == len(source.example_inputs):
        # Names the model's author declared beat parameter names read off forward() (`input` for Sequential).
        source.input_names = list(declared)
    return source


def _import_target(target: str):
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        name = f"toolkit_user_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        except SystemExit as error:
            raise InputError(
                f"{path}: importing it called sys.exit({error.code!r}); guard script code with "
                "if __name__ == '__main__'"
            ) from error
        except Exception as error:
            raise InputError(
                f"{path}: importing it raised {type(error).__name__}: {first_line(error)}"
            ) from error
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    try:
        return importlib.import_module(target)
    except ImportError as error:
        raise InputError(f"{target}: cannot import module ({first_line(error)})") from error
    except Exception as error:
        raise InputError(
            f"{target}: importing it raised {type(error).__name__}: {first_line(error)}"
        ) from error


def _is_model_and_inputs(produced: Any) -> bool:
    return (
        isinstance(produced, tuple)
        and len(produced) == 2
        and not _framework_of(produced)
        and bool(_framework_of(produced[0]))
    )


def _framework_of(model: Any) -> str | None:
    """Which framework a model object belongs to, judged without importing any framework."""
    module_names = [cls.__module__ for cls in type(model).__mro__]
    if isinstance(model, _onnx_model_type()):
        return "onnx"
    if any(name.startswith("torch") for name in module_names):
        return "torch"
    if any(name.startswith("keras") or name.startswith("tf_keras") for name in module_names):
        return "keras"
    if any(name.startswith("tensorflow") for name in module_names):
        return "tensorflow"
    return None


def _onnx_model_type():
    import onnx

    return onnx.ModelProto


def from_object(model: Any, label: str, example_inputs: Any = None) -> Source:
    framework = _framework_of(model)
    if framework is None:
        raise InputError(
            f"{label}: returned a {type(model).__name__}, not a model; expected a torch.nn.Module, a Keras model, "
            "a tf.Module or an onnx.ModelProto (optionally as (model, example_inputs))"
        )
    if isinstance(example_inputs, dict):
        example_inputs = {str(name): value for name, value in example_inputs.items()}
    inputs = as_numpy_tuple(example_inputs, label) if example_inputs is not None else None
    source = Source(framework, model, label, inputs)
    if framework == "torch":
        source.input_names, source.keyword_inputs = _torch_call(model, example_inputs, label)
        if isinstance(example_inputs, dict):
            source.example_inputs = as_numpy_tuple([example_inputs[n] for n in source.input_names], label)
    elif framework == "keras":
        source.input_names = keras_input_names(model)
        if isinstance(example_inputs, dict) and source.input_names:
            unknown = sorted(set(example_inputs) - set(source.input_names))
            missing = [name for name in source.input_names if name not in example_inputs]
            if unknown or missing:
                raise UsageError(
                    f"{label}: the Keras model takes {', '.join(source.input_names)}; the example inputs "
                    f"name {', '.join(example_inputs)}: pass example inputs by these names"
                )
            source.example_inputs = as_numpy_tuple([example_inputs[n] for n in source.input_names], label)
    elif framework == "onnx":
        initializers = {i.name for i in model.graph.initializer}
        source.input_names = [i.name for i in model.graph.input if i.name not in initializers]
    return source


def as_numpy_tuple(values: Any, label: str = "example inputs") -> tuple[np.ndarray, ...]:
    """Example inputs as numpy: accepts one array/tensor, a tuple/list of them, or a dict."""
    if isinstance(values, dict):
        values = tuple(values.values())
    if not isinstance(values, (tuple, list)):
        values = (values,)
    converted = []
    for value in values:
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
            value = value.numpy()
        array = np.asarray(value)
        if array.dtype == object:
            raise InputError(f"{label}: an example input of type {type(value).__name__} is not a tensor")
        converted.append(array)
    return tuple(converted)


def keras_input_names(model: Any) -> list[str] | None:
    """A Keras model's input names in `model.inputs` order: dict keys for dict inputs, else layer names."""
    import keras

    inputs = getattr(model, "inputs", None)
    if not inputs:
        return None
    structure = getattr(model, "input", None) if isinstance(model, keras.Model) else None
    if isinstance(structure, dict):
        by_tensor = {id(tensor): str(key) for key, tensor in structure.items()}
        names = [by_tensor.get(id(tensor)) for tensor in inputs]
        if None not in names:
            return names
    layer_names = {
        id(layer.output): layer.name
        for layer in getattr(model, "layers", [])
        if isinstance(layer, keras.layers.InputLayer)
    }
    names = [layer_names.get(id(tensor), _strip_tensor_suffix(tensor.name)) for tensor in inputs]
    return names if len(set(names)) == len(names) else [_strip_tensor_suffix(t.name) for t in inputs]


def _torch_call(model: Any, example_inputs: Any, label: str) -> tuple[list[str] | None, bool]:
    """(input names, called by keyword) for a torch model and the example inputs given for it.

    Positional examples take the first forward() parameters; a dict names them. Parameters not
    given are not graph inputs; when the two cannot be matched the error says what to pass.
    """
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        from torch.export.graph_signature import InputKind

        names = [
            spec.arg.name for spec in model.graph_signature.input_specs if spec.kind == InputKind.USER_INPUT
        ]
        return names, False
    forward = getattr(model, "forward", None)
    try:
        parameters = list(inspect.signature(forward).parameters.values()) if forward is not None else None
    except (TypeError, ValueError):  # TorchScript methods have no Python signature
        parameters = None
    if parameters is None:  # TorchScript: called positionally, in the order given
        return (list(example_inputs), False) if isinstance(example_inputs, dict) else (None, False)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes = ", ".join(p.name for p in positional + [k for k in keywords if k not in positional]) or "nothing"
    varargs = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    varkw = any(p.kind == p.VAR_KEYWORD for p in parameters)
    required = [
        p.name for p in parameters if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if example_inputs is None:
        return [p.name for p in positional if p.default is p.empty] or None, False
    if isinstance(example_inputs, dict):
        return _keyword_call(example_inputs, keywords, required, varkw, takes, label), True
    count = len(example_inputs) if isinstance(example_inputs, (tuple, list)) else 1
    if count > len(positional) and not varargs:
        raise UsageError(
            f"{label}: forward() takes {takes}; {count} example inputs is too many: pass example inputs by name"
        )
    missing = [name for name in required if name not in [p.name for p in positional[:count]]]
    if missing:
        raise UsageError(
            f"{label}: forward() takes {takes}; {', '.join(missing)} would not be given: "
            "pass example inputs by name"
        )
    names = [p.name for p in positional[:count]]
    return names + [f"input_{index}" for index in range(len(names), count)], False


def _keyword_call(example_inputs: dict, keywords, required, varkw: bool, takes: str, label: str) -> list[str]:
    """Input names of a forward() called with keyword example inputs, in signature order."""
    known = {p.name for p in keywords}
    unknown = [name for name in example_inputs if name not in known]
    if unknown and not varkw:
        raise UsageError(
            f"{label}: forward() takes {takes}; the example inputs name {', '.join(unknown)}: "
            "pass example inputs by these names"
        )
    missing = [name for name in required if name not in example_inputs]
    if missing:
        raise UsageError(
            f"{label}: forward() needs {', '.join(missing)}, which the example inputs do not give"
        )
    # Signature order: torch.export orders keyword inputs so, and so does the ONNX graph.
    ordered = [p.name for p in keywords if p.name in example_inputs]
    return ordered + [name for name in example_inputs if name not in ordered]


def _strip_tensor_suffix(name: str) -> str:
    return name.split(":")[0]


def _from_exported_program(path: Path) -> Source:
    import torch

    source = _loaded(path, "torch.export ExportedProgram", lambda: torch.export.load(str(path)))
    source.example_inputs = _example_inputs_of_program(source.model)
    return source


def _loaded(path: Path, format_name: str, load) -> Source:
    """A Source from a framework's own loader; a file it rejects is the user's input error."""
    try:
        model = load()
    except Exception as error:
        raise InputError(f"{path}: not a loadable {format_name} ({first_line(error)})") from error
    source = from_object(model, str(path))
    source.details["format"] = format_name
    return source


def _example_inputs_of_program(program: Any) -> tuple[np.ndarray, ...] | None:
    example = getattr(program, "example_inputs", None)
    if not example:
        return None
    args, kwargs = example
    if kwargs:
        return None
    try:
        return as_numpy_tuple(args)
    except InputError:
        return None


def _from_torchscript(path: Path) -> Source:
    import torch

    return _loaded(path, "TorchScript", lambda: torch.jit.load(str(path), map_location="cpu"))


def _from_keras_file(path: Path) -> Source:
    import keras

    return _loaded(path, "Keras model", lambda: keras.models.load_model(str(path), compile=False))


def _from_saved_model(path: Path) -> Source:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:
        raise InputError(f"{path}: not a loadable SavedModel ({first_line(error)})") from error
    signature = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
    if signature is None:
        raise InputError(f"{path}: the SavedModel has no 'serving_default' signature; re-save it with one")
    source = Source("tensorflow", loaded, str(path))
    source.input_names = list(signature.structured_input_signature[1].keys())
    source.details["format"] = "SavedModel"
    return source


def _from_generated_python(path: Path) -> Source:
    """A Python file defining one nn.Module class that builds itself, like the torch importer's `.py`."""
    import torch

    module = _import_target(str(path))
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, torch.nn.Module)
        and value.__module__ == module.__name__
    ]
    if len(classes) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise InputError(
            f"{path}: expected exactly one nn.Module class defined in the file (found {found}); "
            "for other files name the factory: file.py:factory"
        )
    try:
        instance = classes[0]()
    except Exception as error:
        raise InputError(
            f"{path}: {classes[0].__name__}() raised {type(error).__name__}: {first_line(error)}"
        ) from error
    source = from_object(instance, str(path))
    source.details["format"] = "generated torch Python"
    return source


def require_example_inputs(
    source: Source, input_shapes: dict[str, tuple[int, ...]] | None = None
) -> tuple[np.ndarray, ...]:
    """Example inputs from the source, or random tensors of the shapes the user gave.

    Shapes named after forward() parameters make those the graph inputs, called by keyword; ids
    (`*_ids`) are int64 tokens and masks (`*mask*`) int64 ones, everything else float32.
    """
    if input_shapes:
        names = source.input_names or list(input_shapes)
        missing = [name for name in names if name not in input_shapes]
        if missing and source.kind == "torch" and _name_torch_inputs(source, input_shapes):
            names, missing = source.input_names, []
        if missing and len(input_shapes) == len(names):
            names = list(input_shapes)
            missing = []
        if missing:
            raise UsageError(
                f"{source.label}: --input-shape is missing for input(s) {', '.join(missing)} "
                f"(the model takes {', '.join(names)})"
            )
        generator = np.random.default_rng(0)
        return tuple(_random_input(name, input_shapes[name], generator) for name in names)
    if source.example_inputs is not None:
        return source.example_inputs
    if source.kind == "keras":
        return _keras_example_inputs(source.model)
    raise UsageError(
        f"{source.label}: no example inputs; have the factory return (model, inputs), define example_inputs() "
        "beside it, or pass --input-shape NAME:1x3x224x224"
    )


def _name_torch_inputs(source: Source, input_shapes: dict[str, tuple[int, ...]]) -> bool:
    """When the --input-shape names are forward() parameters, they become the keyword inputs."""
    placeholders = {name: np.zeros(1, np.float32) for name in input_shapes}
    try:
        names, keyword = _torch_call(source.model, placeholders, source.label)
    except UsageError:
        return False
    source.input_names, source.keyword_inputs = names, keyword
    return True


def _random_input(name: str, shape: tuple[int, ...], generator: np.random.Generator) -> np.ndarray:
    lowered = name.lower()
    if lowered.endswith("ids"):
        return generator.integers(0, 10, size=shape).astype(np.int64)
    if "mask" in lowered:
        return np.ones(shape, np.int64)
    return generator.standard_normal(shape).astype(np.float32)


def _keras_example_inputs(model: Any) -> tuple[np.ndarray, ...]:
    """Keras models declare their input shapes; a batch of 2 is enough to trace and check."""
    generator = np.random.default_rng(0)
    inputs = []
    for tensor in model.inputs:
        shape = [2 if size is None else size for size in tensor.shape]
        if None in shape[1:]:
            raise UsageError(f"input {tensor.name!r} has unknown non-batch dimensions; pass --input-shape")
        dtype = np.dtype(getattr(tensor, "dtype", "float32"))
        if np.issubdtype(dtype, np.integer):
            inputs.append(generator.integers(0, 10, size=shape).astype(dtype))
        else:
            inputs.append(generator.standard_normal(shape).astype(dtype))
    return tuple(inputs)
