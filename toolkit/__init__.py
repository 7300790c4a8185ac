"""toolkit: ONNX-centred model interchange between PyTorch, TensorFlow/Keras and onnxruntime.

The public API is imported lazily so that `import toolkit` loads neither torch nor TensorFlow.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["convert", "verify_parity", "load", "ToolkitError"]

from toolkit.errors import ToolkitError


def convert(*args, **kwargs):
    from toolkit.api import convert as _convert

    return _convert(*args, **kwargs)


def verify_parity(*args, **kwargs):
    from toolkit.api import verify_parity as _verify_parity

    return _verify_parity(*args, **kwargs)


def load(*args, **kwargs):
    from toolkit.api import load as _load

    return _load(*args, **kwargs)


convert.__doc__ = "Convert a model to ONNX, torch or TensorFlow; see toolkit.api.convert."
verify_parity.__doc__ = "Compare a reference model with candidates; see toolkit.api.verify_parity."
load.__doc__ = "Load any supported model file as a callable; see toolkit.api.load."
