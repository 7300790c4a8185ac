"""Atomic writes and ONNX loading/saving: a model on disk is always whole and self-contained.

The write policy (README, "What toolkit writes"): an output is checked before any work (its suffix
fits the target, it is none of the inputs, its directory is writable); it is written to a
temporary sibling and renamed; an existing directory is replaced only when toolkit wrote it (or it
is a SavedModel and the user passed --force); on any failure or Ctrl-C nothing is left behind.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import onnx

from toolkit.errors import InputError, UsageError

# protobuf refuses to serialise a message over 2 GiB; past this size a model is checked through a file.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000
# Weights over this go to NAME.onnx.data beside the .onnx: readers memory-map them instead of parsing
# them into memory (a protobuf file is read whole, then parsed: two copies of the weights).
EXTERNAL_WEIGHTS_THRESHOLD = 256 * 2**20
# Offsets of tensors in a data file toolkit writes are multiples of this (aligned memory maps).
EXTERNAL_DATA_ALIGNMENT = 64
COPY_CHUNK_BYTES = 64 * 2**20

# What each target writes: the file suffixes it accepts, or DIRECTORY. A new target is one row.
DIRECTORY = "directory"
OUTPUT_FORMATS: dict[str, tuple[str, ...] | str] = {
    "onnx": (".onnx",),
    "torch": (".pt2", ".py"),
    "tensorflow": DIRECTORY,  # a SavedModel
    "tflite": (".tflite",),
}
# Suffixes of model files: a directory output (SavedModel) named like one is a mistake.
MODEL_FILE_SUFFIXES = (
    ".onnx",
    ".pt2",
    ".py",
    ".tflite",
    ".pt",
    ".pth",
    ".keras",
    ".h5",
    ".pb",
    ".safetensors",
)
# Left in every directory toolkit writes, so that a later run may replace it (and nothing else).
OUTPUT_MARKER = ".written-by-toolkit"

# Set by `replacing_foreign_directories(True)` (the CLI's --force): a SavedModel toolkit did not write may go.
_force = contextvars.ContextVar("toolkit_force", default=False)


@contextlib.contextmanager
def replacing_foreign_directories(force: bool) -> Iterator[None]:
    """Within the block, an existing SavedModel that toolkit did not write may be replaced."""
    token = _force.set(bool(force))
    try:
        yield
    finally:
        _force.reset(token)


def output_paths(path: str | os.PathLike, target: str) -> list[Path]:
    """Every path a target writes for output `path` (.py writes its weights beside it)."""
    path = Path(path)
    if target == "torch" and path.suffix == ".py":
        return [path, path.with_suffix(".safetensors")]
    return [path]


def check_output(
    path: str | os.PathLike,
    target: str,
    inputs: Iterable[str | os.PathLike] = (),
    option: str = "-o",
) -> Path:
    """Refuse, before any work, an output that does not fit `target`, is an input, or cannot be written."""
    final = Path(path)
    expected = OUTPUT_FORMATS.get(target, ())
    for written in output_paths(final, target):
        for given in inputs:
            if _overlaps(written, Path(given)):
                raise UsageError(
                    f"{option} {written}: that is the input {given}; write to a new path "
                    "(toolkit never overwrites an input)"
                )
    _check_existing(final, directory=expected == DIRECTORY)
    stem = final.stem if final.name not in ("", ".", "..") else "model"
    if expected == DIRECTORY:
        if final.suffix.lower() in MODEL_FILE_SUFFIXES:
            raise UsageError(
                f"{option} {final}: --to {target} writes a SavedModel directory; give a path without a "
                f"{final.suffix} suffix, e.g. {final.parent / stem}_saved_model"
            )
    elif expected and final.suffix.lower() not in expected:
        raise UsageError(
            f"{option} {final}: --to {target} writes {' or '.join(expected)} files; "
            f"use e.g. {stem}{expected[0]}"
        )
    for written in output_paths(final, target):
        check_writable(written, directory=expected == DIRECTORY)
    return final


def _overlaps(output: Path, given: Path) -> bool:
    """Writing `output` would replace `given` (the same file, or a directory holding it), or write inside it."""
    output, given = _absolute(output), _absolute(given)
    if output == given or output in given.parents or given in output.parents:
        return True
    with contextlib.suppress(OSError):
        return output.exists() and given.exists() and os.path.samefile(output, given)
    return False


def _absolute(path: Path) -> Path:
    return Path(os.path.realpath(path))


def check_writable(path: str | os.PathLike, directory: bool = False) -> None:
    """A one-line InputError when `path` cannot be written: an existing directory toolkit may not
    replace, a file where a directory goes, a parent that is a file, a read-only or virtual folder."""
    final = Path(path)
    _check_existing(final, directory)
    ancestor = _absolute(final).parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{final}: cannot write there, {ancestor} is a file, not a directory")
    try:
        handle, probe = tempfile.mkstemp(prefix=".toolkit-write-check.", suffix=".tmp", dir=ancestor)
    except OSError as error:
        raise InputError(
            f"{final}: cannot write in {ancestor} ({error.strerror or error}); choose another output path"
        ) from None
    os.close(handle)
    os.unlink(probe)


def _check_existing(final: Path, directory: bool) -> None:
    if not final.exists() and not final.is_symlink():
        return
    if not final.is_dir():
        if directory:
            raise InputError(f"{final}: a file is in the way of the SavedModel directory; choose a new path")
        return
    if not directory:
        raise InputError(
            f"{final}: is a directory; give a file path such as {final / 'model.onnx'} "
            "(toolkit never replaces a directory with a file)"
        )
    if final.is_symlink():
        raise InputError(f"{final}: is a symbolic link to a directory; give the real path or a new one")
    if (final / OUTPUT_MARKER).is_file():
        return
    if _is_saved_model(final):
        if _force.get():
            return
        raise InputError(
            f"{final}: is a SavedModel that toolkit did not write; pass --force to replace it, or choose a new path"
        )
    raise InputError(
        f"{final}: is an existing directory that toolkit did not write; choose a new path "
        "(toolkit only replaces directories it wrote)"
    )


def _is_saved_model(directory: Path) -> bool:
    return (directory / "saved_model.pb").is_file() or (directory / "saved_model.pbtxt").is_file()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    Everything (parents made, the temporary, an old directory moved aside) is undone on any
    failure or interruption; write failures are one-line InputErrors (exit 2).
    """
    final = Path(path)
    check_writable(final, directory)
    made = []
    temporary = None
    try:
        with interrupts_deferred():
            made = _make_parents(final.parent)
            temporary = _temporary_sibling(final, directory)
            yield temporary
            if interrupt_pending():  # Ctrl-C during the write: the work is abandoned, not renamed
                raise KeyboardInterrupt
            # mkstemp/mkdtemp create private (0600/0700) files; the result gets the usual umask-based mode.
            os.chmod(temporary, (0o777 if directory else 0o666) & ~_current_umask())
            if directory:
                (temporary / OUTPUT_MARKER).write_text(
                    "written by toolkit: a later run may replace this directory\n"
                )
            _check_existing(final, directory)  # it may have appeared while the work ran
            _move_into_place(temporary, final)
    except BaseException as error:
        if temporary is not None:
            _remove(temporary)
        for parent in reversed(made):
            with contextlib.suppress(OSError):
                parent.rmdir()
        if isinstance(error, OSError):
            raise InputError(f"{final}: cannot write it ({error.strerror or first_line(error)})") from error
        raise


def _make_parents(parent: Path) -> list[Path]:
    missing = []
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir()
    return list(reversed(missing))


def _temporary_sibling(final: Path, directory: bool) -> Path:
    name = final.name or "output"
    if directory:
        return Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=final.parent))
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    return Path(temporary)


def _move_into_place(temporary: Path, final: Path) -> None:
    """Rename `temporary` onto `final`; an old directory is moved aside first and restored on failure."""
    if not final.is_dir():
        os.replace(temporary, final)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old.tmp", dir=final.parent))
    os.rmdir(aside)
    os.rename(final, aside)
    try:
        os.replace(temporary, final)
    except BaseException:
        os.rename(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)


_deferring = threading.local()


def interrupt_pending() -> bool:
    """Whether a SIGINT arrived while `interrupts_deferred` held it."""
    return bool(getattr(_deferring, "received", None))


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT until the block ends, then raise KeyboardInterrupt.

    A KeyboardInterrupt raised inside C++ writer callbacks aborts the process (torch.export.save
    through a file object ends in SIGABRT); deferred, it becomes a clean cleanup and exit 130.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or getattr(_deferring, "active", False)
        or signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a background job: Ctrl-C is not ours
    ):
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    _deferring.active, _deferring.received = True, received
    try:
        yield
    finally:
        _deferring.active, _deferring.received = False, None
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


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


def save_onnx(
    model: onnx.ModelProto,
    path: str | os.PathLike,
    base_dir: str | os.PathLike | None = None,
    move_data: bool = False,
) -> Path:
    """Write `model` atomically; weights over EXTERNAL_WEIGHTS_THRESHOLD go to `<name>.data` beside it.

    A model that already keeps weights in files (external data relative to `base_dir`, as an
    exporter or `load_onnx(..., load_external_data=False)` leaves it) has them copied into
    `<name>.data` a chunk at a time, never loaded; `move_data` (the files are a scratch copy)
    renames a single data file into place instead, when it is on the same file system.
    """
    path = Path(path)
    data_name = path.name + ".data"
    if has_external_data(model):
        if base_dir is None:
            raise UsageError(f"{path}: the model keeps weights in external data; say where (base_dir)")
        with atomic_output(path.parent / data_name) as temporary_data, atomic_output(path) as temporary:
            written = (
                _moved_external_data(model, Path(base_dir), temporary_data, data_name) if move_data else None
            )
            if written is None:
                written = _copy_external_data(model, Path(base_dir), temporary_data, data_name)
            temporary.write_bytes(written.SerializeToString())
        return path
    if weight_bytes(model) <= EXTERNAL_WEIGHTS_THRESHOLD:
        with atomic_output(path) as temporary:
            onnx.save_model(model, str(temporary))
        return path
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
        # save_model moved the bytes out of `model`: give them back, it is the caller's.
        onnx.load_external_data_for_model(model, str(temporary.parent))
        for tensor in onnx.external_data_helper._get_all_tensors(model):
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.external_data[:]
        reloaded = onnx.load(str(temporary), load_external_data=False)
        for tensor in onnx.external_data_helper._get_all_tensors(reloaded):
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = data_name
        with open(temporary, "wb") as handle:
            handle.write(reloaded.SerializeToString())
    return path


def _moved_external_data(
    model: onnx.ModelProto, base_dir: Path, data_path: Path, data_name: str
) -> onnx.ModelProto | None:
    """A copy of `model` pointing at `data_name`, its one data file renamed onto `data_path`;
    None when the weights are in several files or the rename would cross file systems."""
    written = onnx.ModelProto()
    written.CopyFrom(model)  # light: external tensors hold no bytes
    tensors = [t for t in onnx.external_data_helper._get_all_tensors(written) if is_external(t)]
    locations = {onnx.external_data_helper.ExternalDataInfo(t).location for t in tensors}
    if len(locations) != 1:
        return None
    try:
        os.replace(base_dir / locations.pop(), data_path)
    except OSError:
        return None
    for tensor in tensors:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = data_name
    return written


def _copy_external_data(
    model: onnx.ModelProto, base_dir: Path, data_path: Path, data_name: str
) -> onnx.ModelProto:
    """A copy of `model` whose external tensors point into `data_path` (named `data_name`), where
    their bytes were copied in file order, COPY_CHUNK_BYTES at a time."""
    written = onnx.ModelProto()
    written.CopyFrom(model)  # light: external tensors hold no bytes
    tensors = [t for t in onnx.external_data_helper._get_all_tensors(written) if is_external(t)]
    offset = 0
    with open(data_path, "wb") as data:
        for tensor in tensors:
            info = onnx.external_data_helper.ExternalDataInfo(tensor)
            source = base_dir / info.location
            length = int(info.length) if info.length else source.stat().st_size - int(info.offset or 0)
            padding = -offset % EXTERNAL_DATA_ALIGNMENT
            data.write(b"\0" * padding)
            offset += padding
            try:
                with open(source, "rb") as handle:
                    handle.seek(int(info.offset or 0))
                    remaining = length
                    while remaining:
                        chunk = handle.read(min(COPY_CHUNK_BYTES, remaining))
                        if not chunk:
                            raise InputError(f"{source}: ends before the external data of {tensor.name!r}")
                        data.write(chunk)
                        remaining -= len(chunk)
            except FileNotFoundError:
                raise InputError(
                    f"{source}: missing, yet tensor {tensor.name!r} keeps its data there"
                ) from None
            del tensor.external_data[:]
            for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(length))):
                tensor.external_data.add(key=key, value=value)
            offset += length
    return written


def weight_bytes(model: onnx.ModelProto) -> int:
    """The top graph's initializer bytes, from their dims and types: no bytes are touched
    (protobuf's ByteSize() serialises the whole model to count it)."""
    total = 0
    for tensor in model.graph.initializer:
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 1
        count = 1
        for dim in tensor.dims:
            count *= dim
        total += count * itemsize
    return total


def is_external(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL


def has_external_data(model: onnx.ModelProto) -> bool:
    """Whether any tensor of `model` (subgraphs and attributes included) keeps its bytes in a file."""
    return any(is_external(t) for t in onnx.external_data_helper._get_all_tensors(model))


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message, for one-line reports."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
