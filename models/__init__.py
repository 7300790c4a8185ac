"""Reference architectures, one module each with `build()` and `example_inputs()`.

Listing them imports no framework: `load_reference` imports a module only when asked.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from toolkit.errors import UsageError

REFERENCE_MODELS: dict[str, str] = {
    "torch_cnn": "models.torch_cnn",
    "torch_mlp": "models.torch_mlp",
    "torch_resnet": "models.torch_resnet",
    "torch_rnn": "models.torch_rnn",
    "torch_transformer": "models.torch_transformer",
    "keras_cnn": "models.keras_cnn",
    "keras_separable_cnn": "models.keras_separable_cnn",
    "keras_bilstm": "models.keras_bilstm",
    "keras_attention": "models.keras_attention",
}


def load_reference(name: str) -> ModuleType:
    """The module of reference model `name` (it has FRAMEWORK, build() and example_inputs())."""
    if name not in REFERENCE_MODELS:
        raise UsageError(f"unknown reference model {name!r}; choose one of {', '.join(REFERENCE_MODELS)}")
    return importlib.import_module(REFERENCE_MODELS[name])


def references(framework: str) -> list[str]:
    """Names of the reference models of one framework ("torch" or "keras"), judged by their prefix."""
    return [name for name in REFERENCE_MODELS if name.startswith(framework + "_")]
