"""The models a server holds: one onnxruntime session per file, named by its stem, with v2 metadata."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime

from toolkit.errors import InputError, UsageError
from toolkit.runtime import OnnxRuntimeModel, TensorSpec, resolve_providers
from toolkit.serve.codec import datatype_of

log = logging.getLogger("toolkit.serve")

# Every file is served as version 1: the repository holds one version per model.
MODEL_VERSION = "1"
PLATFORM = "onnxruntime_onnx"
# Past this many input bytes a run hands its arena growth back when it ends: onnxruntime's CPU arena
# otherwise keeps the peak of the largest request ever served for the life of the process.
LARGE_RUN_BYTES = 1024 * 1024
_SHRINK_ARENA = onnxruntime.RunOptions()
_SHRINK_ARENA.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")


def machine_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count, inside containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class ServedModel:
    """One loaded model: its session, its v2 metadata and whether requests may be batched together."""

    name: str
    path: Path
    session: OnnxRuntimeModel

    @property
    def version(self) -> str:
        return MODEL_VERSION

    @property
    def batchable(self) -> bool:
        """True when every input and output has a dynamic first axis, so requests can be stacked on it."""
        specs = self.session.inputs + self.session.outputs
        return all(spec.shape and not isinstance(spec.shape[0], int) for spec in specs)

    def metadata(self) -> dict:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": PLATFORM,
            "inputs": [_tensor_metadata(spec) for spec in self.session.inputs],
            "outputs": [_tensor_metadata(spec) for spec in self.session.outputs],
        }

    def check_datatypes(self, datatypes: Mapping[str, str]) -> None:
        """Reject a declared datatype the model does not take, in the protocol's words (FP32, INT64)."""
        expected = {spec.name: datatype_of(spec.dtype) for spec in self.session.inputs}
        for name, datatype in datatypes.items():
            if name in expected and datatype != expected[name]:
                raise InputError(
                    f"model {self.name!r}: input {name!r} has datatype {datatype}, the model expects {expected[name]}"
                )

    def validate(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Names, dtypes and shapes checked; BYTES become str, the only string type onnxruntime takes."""
        checked = self.session.validate(feeds)
        for name, value in checked.items():
            if value.dtype == np.object_:
                checked[name] = _as_text(self.name, name, value)
        return checked

    def run(
        self, feeds: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """A blocking run; onnxruntime releases the GIL inside, so callers run this in a thread pool."""
        names = list(output_names) if output_names else self.session.output_names
        large = sum(value.nbytes for value in feeds.values()) > LARGE_RUN_BYTES
        try:
            values = self.session.session.run(names, feeds, _SHRINK_ARENA if large else None)
        except Exception as error:
            raise InputError(f"model {self.name!r}: onnxruntime run failed: {str(error).strip()}") from error
        return dict(zip(names, values, strict=True))

    def check_output_names(self, names: Sequence[str]) -> None:
        known = self.session.output_names
        unknown = [name for name in names if name not in known]
        if unknown:
            raise InputError(
                f"model {self.name!r}: unknown output(s) {', '.join(unknown)}; the model has {', '.join(known)}"
            )


def _as_text(model: str, name: str, value: np.ndarray) -> np.ndarray:
    # onnxruntime turns a bytes element into its repr ("b'...'"), so decode before the run.
    try:
        items = [item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in value.reshape(-1)]
    except UnicodeDecodeError:
        raise InputError(f"model {model!r}: input {name!r} holds BYTES that are not UTF-8 text") from None
    return np.array(items, dtype=np.object_).reshape(value.shape)


def _tensor_metadata(spec: TensorSpec) -> dict:
    # The v2 protocol writes a variable-size dimension as -1.
    return {
        "name": spec.name,
        "datatype": datatype_of(spec.dtype),
        "shape": [size if isinstance(size, int) and size >= 0 else -1 for size in spec.shape],
    }


def session_options(threads: int) -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    # Concurrent requests each run on the session; a single inter-op thread avoids oversubscribing cores.
    options.inter_op_num_threads = 1
    # Spinning intra-op workers steal the cores the event loop and the other runs need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def load_models(
    paths: Sequence[str | os.PathLike], provider: str = "auto", threads: int | None = None
) -> dict[str, ServedModel]:
    """Load every file into a session, refusing two files with the same stem; logs the provider chosen."""
    providers = resolve_providers(provider)
    threads = threads or machine_cores()
    models: dict[str, ServedModel] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(f"{path}: no such file")
        name = path.stem
        if name in models:
            raise UsageError(
                f"{path}: model name {name!r} (the file stem) is already taken by {models[name].path}"
            )
        session = OnnxRuntimeModel(path, provider=provider, session_options=session_options(threads))
        # Errors go back to clients: name the model, not the server's file path.
        session.label = f"model {name!r}"
        active = session.session.get_providers()
        log.info(
            "model %s: %s on %s (asked for %s, intra-op threads %d)",
            name,
            path,
            ", ".join(active),
            provider,
            threads,
        )
        if provider == "auto" and active and active[0] != providers[0]:
            log.warning(
                "model %s: %s was preferred but onnxruntime fell back to %s", name, providers[0], active[0]
            )
        models[name] = ServedModel(name, path, session)
    return models
