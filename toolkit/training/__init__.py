"""Training an imported model like its source: parameter names that map back, source checkpoints
loaded into the import. Imports no framework until a function is called."""

from __future__ import annotations

__all__ = ["MappedParameter", "load_weights", "parameter_map"]


def parameter_map(imported):
    from toolkit.training.mapping import parameter_map as _parameter_map

    return _parameter_map(imported)


def load_weights(imported, checkpoint):
    from toolkit.training.checkpoints import load_weights as _load_weights

    return _load_weights(imported, checkpoint)


def __getattr__(name: str):
    if name == "MappedParameter":
        from toolkit.training.mapping import MappedParameter

        return MappedParameter
    raise AttributeError(f"module 'toolkit.training' has no attribute {name!r}")
