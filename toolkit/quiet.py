"""Keep TensorFlow's C++ start-up chatter off the terminal, so one-line messages stay one line.

TF 2.21 writes absl/oneDNN notices straight to file descriptor 2 while `import tensorflow` runs,
before any Python logging or TF_CPP_MIN_LOG_LEVEL applies. The command line installs a finder that
silences descriptor 2 for the duration of that one import, whichever module triggers it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null (C++ writes included), then restore it."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class QuietTensorflowImport(importlib.abc.MetaPathFinder):
    """On the first `import tensorflow`, run the package's own loader with stderr silenced."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; also keeps find_spec below from recursing
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader_exec = spec.loader.exec_module

        def exec_module(module):
            with stderr_silenced():
                loader_exec(module)

        spec.loader.exec_module = exec_module
        return spec


def quiet_tensorflow_import() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, QuietTensorflowImport) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, QuietTensorflowImport())


# Framework chatter that never concerns the user's model: messages matched at the start.
_FOREIGN_WARNINGS = (
    "pkg_resources is deprecated",
    "Deprecated call to `pkg_resources",
    "setuptools",
    "`torch.jit",
    "torch.jit",
    "You are using `torch.load`",
    "Protobuf gencode version",
)


def quiet_frameworks() -> None:
    """For scripts that print a table: TF's C++ notices, its retracing warnings and setuptools text go.

    Warnings raised from the user's model code still show; tf.function retracing is reported by the
    toolkit's own traced calls (parity runs many shapes on purpose), so it is dropped at the logger.
    """
    import logging
    import warnings

    quiet_tensorflow_import()
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # the oneDNN notice, and bitwise-stable results
    for message in _FOREIGN_WARNINGS:
        warnings.filterwarnings("ignore", message=re_escape(message))
    for module in (
        "setuptools",
        "pkg_resources",
        "tf2onnx",
        "keras",
        "tensorflow",
        "onnxscript",
        "torch.onnx",
    ):
        warnings.filterwarnings("ignore", module=re_escape(module))
    for name in ("tensorflow", "absl", "tf2onnx", "h5py", "onnxscript", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import onnxruntime

    # A failed run is reported once, in the table; onnxruntime's own C++ log would repeat it in colour.
    onnxruntime.set_default_logger_severity(4)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)
