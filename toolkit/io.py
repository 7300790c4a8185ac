"""Atomic writes and ONNX loading/saving: a model on disk is always whole and self-contained."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import onnx

from toolkit.errors import InputError

# protobuf refuses to serialise a message over 2 GiB; past this size weights go to external data.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    else:
        handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(handle)
        temporary = Path(name)
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    # mkstemp/mkdtemp create private (0600/0700) files; the result gets the usual umask-based mode.
    os.chmod(temporary, (0o777 if directory else 0o666) & ~_current_umask())
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    os.replace(temporary, final)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def load_onnx(path: str | os.PathLike, load_external_data: bool = True) -> onnx.ModelProto:
    """Load an ONNX file with a one-line error for a missing, truncated or corrupt file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except (
        Exception
    ) as error:  # protobuf raises DecodeError, onnx raises ValueError/OSError for external data
        raise InputError(
            f"{path}: not a readable ONNX model ({type(error).__name__}: {first_line(error)}); "
            "the file may be truncated or of another format"
        ) from error
    if not model.graph.node and not model.graph.output:
        raise InputError(
            f"{path}: not an ONNX model (empty graph); the file may be truncated or of another format"
        )
    return model


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Write `model` atomically; a model over 2 GB keeps its weights in `<name>.data` beside it."""
    path = Path(path)
    large = model.ByteSize() > EXTERNAL_DATA_THRESHOLD if _serialisable(model) else True
    if not large:
        with atomic_output(path) as temporary:
            onnx.save_model(model, str(temporary))
        return path
    data_name = path.name + ".data"
    with atomic_output(path.parent / data_name) as temporary_data, atomic_output(path) as temporary:
        # onnx writes the data file next to the model under the `location` name; write it under
        # the temporary name, then point the model at the final name.
        onnx.save_model(
            model,
            str(temporary),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=temporary_data.name,
            size_threshold=1024,
        )
        reloaded = onnx.load(str(temporary), load_external_data=False)
        for tensor in onnx.external_data_helper._get_all_tensors(reloaded):
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = data_name
        with open(temporary, "wb") as handle:
            handle.write(reloaded.SerializeToString())
    return path


def _serialisable(model: onnx.ModelProto) -> bool:
    try:
        model.ByteSize()
        return True
    except Exception:
        return False


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message, for one-line reports."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
