"""toolkit: ONNX-centred model interchange between PyTorch, TensorFlow/Keras and onnxruntime.

The public API is imported lazily so that `import toolkit` loads neither torch nor TensorFlow.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["convert", "verify_parity", "load", "parameter_map", "load_weights", "ToolkitError"]

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


def parameter_map(imported):
    """{source parameter name: MappedParameter} of an imported module; see toolkit.training."""
    from toolkit.training import parameter_map as _parameter_map

    return _parameter_map(imported)


def load_weights(imported, checkpoint):
    """Load a torch state_dict (.pt) or Keras .weights.h5 into an imported module; see toolkit.training."""
    from toolkit.training import load_weights as _load_weights

    return _load_weights(imported, checkpoint)


convert.__doc__ = "Convert a model to ONNX, torch or TensorFlow; see toolkit.api.convert."
verify_parity.__doc__ = "Compare a reference model with candidates; see toolkit.api.verify_parity."
load.__doc__ = "Load any supported model file as a callable; see toolkit.api.load."
