"""A Triton model repository from ONNX files: NAME/config.pbtxt and NAME/1/model.onnx per model.

The config is Triton's own `ModelConfig` protobuf (tritonclient's generated `model_config_pb2`),
written with `text_format` and parsed back strictly before anything is written, so a field Triton
does not know cannot reach the file. `tritonclient[grpc]` pins protobuf<7 while TensorFlow 2.21
needs protobuf 7: the generated module is imported from plain `tritonclient` and loads under either.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from onnx import TensorProto

from toolkit.deploy.signature import Signature, Tensor, read_signature
from toolkit.errors import InputError, UsageError
from toolkit.io import OUTPUT_MARKER, atomic_output

# Triton's model configuration: data types by ONNX element type (model_config.proto's DataType).
ONNX_TO_TRITON_TYPE = {
    TensorProto.BOOL: "TYPE_BOOL",
    TensorProto.UINT8: "TYPE_UINT8",
    TensorProto.UINT16: "TYPE_UINT16",
    TensorProto.UINT32: "TYPE_UINT32",
    TensorProto.UINT64: "TYPE_UINT64",
    TensorProto.INT8: "TYPE_INT8",
    TensorProto.INT16: "TYPE_INT16",
    TensorProto.INT32: "TYPE_INT32",
    TensorProto.INT64: "TYPE_INT64",
    TensorProto.FLOAT16: "TYPE_FP16",
    TensorProto.FLOAT: "TYPE_FP32",
    TensorProto.DOUBLE: "TYPE_FP64",
    TensorProto.BFLOAT16: "TYPE_BF16",
    TensorProto.STRING: "TYPE_STRING",
}
BACKENDS = ("onnxruntime", "python")
ACCELERATORS = ("cuda", "tensorrt")
# A file toolkit leaves in every repository it writes: the only kind --force may replace.
MARKER = OUTPUT_MARKER  # atomic_output leaves it in every directory toolkit writes
VERSION = "1"
# Triton model names become directory names and URL path segments.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
PYTHON_MODEL = Path(__file__).with_name("triton_python_model.py")


@dataclass(frozen=True)
class TritonOptions:
    backend: str = "onnxruntime"
    max_batch_size: int | None = None  # None: 8 when the batch is dynamic, 0 when static
    preferred_batch_sizes: tuple[int, ...] | None = None  # None: powers of two up to max_batch_size
    max_queue_delay_us: int = 100
    instances: int = 1
    gpus: tuple[int, ...] = ()  # KIND_GPU on these devices; empty: KIND_CPU
    accelerator: str | None = None  # cuda | tensorrt (onnxruntime's GPU execution accelerators)
    precision: str = "fp32"  # fp16: TensorRT's precision_mode
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    names: tuple[str, ...] = field(default=())  # model names; default: the file stems


def _model_config_pb2():
    from tritonclient.grpc import model_config_pb2

    return model_config_pb2


def _dims(tensor: Tensor, batched: bool) -> list[int]:
    return list(tensor.dims[1:] if batched else tensor.dims)


def build_config(name: str, signature: Signature, options: TritonOptions):
    """The ModelConfig message for one model; usage errors for settings the model cannot honour."""
    pb = _model_config_pb2()
    dynamic = signature.batch_is_dynamic
    max_batch_size = options.max_batch_size if options.max_batch_size is not None else (8 if dynamic else 0)
    if max_batch_size > 0 and not dynamic:
        static = [t.name for t in signature.inputs + signature.outputs if not t.batch_is_dynamic]
        raise UsageError(
            f"{signature.path}: max_batch_size {max_batch_size} needs a dynamic first axis on every input "
            f"and output, but {', '.join(static)} have a static one; re-export with a dynamic batch "
            "(toolkit convert ... --dynamic NAME:0), or deploy with --max-batch-size 0"
        )
    if max_batch_size == 0 and options.preferred_batch_sizes:
        raise UsageError(
            "--preferred-batch-sizes needs batching; the model is deployed with max_batch_size 0"
        )
    preferred = (
        list(options.preferred_batch_sizes)
        if options.preferred_batch_sizes
        else [size for size in (1, 2, 4, 8, 16, 32, 64, 128) if 1 < size <= max_batch_size]
        or [max_batch_size]
    )
    config = pb.ModelConfig(name=name, backend=options.backend, max_batch_size=max_batch_size)
    batched = max_batch_size > 0
    _add_tensors(config, pb, signature, batched)
    if batched:
        config.dynamic_batching.preferred_batch_size.extend(preferred)
        config.dynamic_batching.max_queue_delay_microseconds = options.max_queue_delay_us
    group = config.instance_group.add(count=options.instances)
    if options.gpus:
        group.kind = pb.ModelInstanceGroup.KIND_GPU
        group.gpus.extend(options.gpus)
    else:
        group.kind = pb.ModelInstanceGroup.KIND_CPU
    if options.accelerator:
        if options.backend != "onnxruntime":
            raise UsageError("--accelerator applies to the onnxruntime backend only")
        if not options.gpus:
            raise UsageError(
                f"--accelerator {options.accelerator} runs on a GPU; name the devices with --gpus"
            )
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(
            name=options.accelerator
        )
        if options.accelerator == "tensorrt":
            accelerator.parameters["precision_mode"] = options.precision.upper()
    if options.precision != "fp32" and options.accelerator != "tensorrt":
        raise UsageError(f"--precision {options.precision} applies to --accelerator tensorrt only")
    # onnxruntime backend parameters (triton-inference-server/onnxruntime_backend README).
    if options.intra_op_threads:
        config.parameters["intra_op_thread_count"].string_value = str(options.intra_op_threads)
    if options.inter_op_threads:
        config.parameters["inter_op_thread_count"].string_value = str(options.inter_op_threads)
    return config


def _add_tensors(config, pb, signature: Signature, batched: bool) -> None:
    """The config's input and output entries: Triton data types, dims without the batch axis."""
    for role, tensors in (("input", signature.inputs), ("output", signature.outputs)):
        for tensor in tensors:
            if tensor.elem_type not in ONNX_TO_TRITON_TYPE:
                raise InputError(
                    f"{signature.path}: {role} {tensor.name!r} has ONNX element type "
                    f"{TensorProto.DataType.Name(tensor.elem_type)}, which Triton cannot serve"
                )
            data_type = pb.DataType.Value(ONNX_TO_TRITON_TYPE[tensor.elem_type])
            dims = _dims(tensor, batched)
            # Triton: a tensor with no dims left once the batch axis is taken is written as [1] and reshaped.
            message = getattr(config, role).add(name=tensor.name, data_type=data_type, dims=dims or [1])
            if not dims:
                message.reshape.SetInParent()


def render(config) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(config)


def check_config(text: str, directory_name: str, signature: Signature) -> None:
    """What Triton would refuse, refused here: a strict parse, the name, the dims, the batch sizes."""
    from google.protobuf import text_format

    pb = _model_config_pb2()
    config = pb.ModelConfig()
    try:
        text_format.Parse(text, config)  # strict: an unknown field or enum value is an error
    except text_format.ParseError as error:
        raise InputError(
            f"{directory_name}/config.pbtxt does not parse as a Triton ModelConfig: {error}"
        ) from None
    if config.name != directory_name:
        raise InputError(
            f"config.pbtxt names the model {config.name!r} but its directory is {directory_name!r}"
        )
    if config.max_batch_size < 0:
        raise InputError(f"{directory_name}: max_batch_size {config.max_batch_size} must be 0 or more")
    batched = config.max_batch_size > 0
    for role, declared, tensors in (
        ("input", config.input, signature.inputs),
        ("output", config.output, signature.outputs),
    ):
        graph = {tensor.name: tensor for tensor in tensors}
        if [item.name for item in declared] != list(graph):
            raise InputError(
                f"{directory_name}: config {role}s {[item.name for item in declared]} are not the graph's {list(graph)}"
            )
        for item in declared:
            tensor = graph[item.name]
            expected = _dims(tensor, batched) or [1]
            if list(item.dims) != expected:
                raise InputError(
                    f"{directory_name}: {role} {item.name!r} has dims {list(item.dims)} in config.pbtxt "
                    f"but {expected} in the ONNX graph"
                )
            if pb.DataType.Name(item.data_type) != ONNX_TO_TRITON_TYPE[tensor.elem_type]:
                raise InputError(f"{directory_name}: {role} {item.name!r} has the wrong data_type")
    too_large = [
        size for size in config.dynamic_batching.preferred_batch_size if size > config.max_batch_size
    ]
    if too_large or any(size < 1 for size in config.dynamic_batching.preferred_batch_size):
        raise UsageError(
            f"{directory_name}: preferred batch sizes {list(config.dynamic_batching.preferred_batch_size)} "
            f"must be from 1 to max_batch_size {config.max_batch_size}"
        )


def model_names(paths: Sequence[Path], names: Sequence[str]) -> list[str]:
    if names and len(names) != len(paths):
        raise UsageError(
            f"{len(names)} --name value(s) for {len(paths)} model(s); give one per model or none"
        )
    chosen = list(names) or [path.stem for path in paths]
    seen: dict[str, Path] = {}
    for name, path in zip(chosen, paths, strict=True):
        if not NAME_PATTERN.match(name):
            raise UsageError(f"{path}: model name {name!r} must be letters, digits, '_', '.' or '-'")
        if name in seen:
            raise UsageError(f"{path}: model name {name!r} is already taken by {seen[name]}; pass --name")
        seen[name] = path
    return chosen


def write_repository(
    model_paths: Sequence[str | Path], output: str | Path, options: TritonOptions, force=False
):
    """Write every model into one repository at `output`; returns {name: config text}."""
    if options.backend not in BACKENDS:
        raise UsageError(f"--backend {options.backend!r}: choose one of {', '.join(BACKENDS)}")
    paths = [Path(path) for path in model_paths]
    output = Path(output)
    if output.exists() and not (force and (output / MARKER).is_file()):
        hint = " (pass --force to replace it)" if (output / MARKER).is_file() else ""
        raise UsageError(f"{output} already exists{hint}; choose a new repository path")
    names = model_names(paths, options.names)
    configs = {}
    for name, path in zip(names, paths, strict=True):
        signature = read_signature(path)
        text = render(build_config(name, signature, options))
        check_config(text, name, signature)
        configs[name] = (text, path)
    with atomic_output(output, directory=True) as temporary:
        for name, (text, path) in configs.items():
            version = temporary / name / VERSION
            version.mkdir(parents=True)
            (temporary / name / "config.pbtxt").write_text(text)
            shutil.copyfile(path, version / "model.onnx")
            if options.backend == "python":
                shutil.copyfile(PYTHON_MODEL, version / "model.py")
    return {name: text for name, (text, _) in configs.items()}
