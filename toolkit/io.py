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

# protobuf refuses to serialise a message over 2 GiB; past this size weights go to external data.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000

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
