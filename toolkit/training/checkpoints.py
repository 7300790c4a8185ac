"""Source checkpoints into an import: a torch state_dict (.pt/.pth) or Keras .weights.h5.

Names go through `parameter_map`: a state_dict's keys are the initializer names of a trainable
torch export; a .weights.h5 stores datasets by layer ("layers/conv2d/vars/0"), and the trainable
Keras export recorded which dataset each variable path is (metadata "toolkit.keras_weights").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from toolkit.errors import InputError
from toolkit.io import first_line
from toolkit.training.mapping import metadata, parameter_map

KERAS_WEIGHTS_KEY = "toolkit.keras_weights"


def load_weights(imported, checkpoint: str | os.PathLike) -> list[str]:
    """Load `checkpoint` into `imported` in place; returns the names loaded. Every mapped parameter
    must be in the checkpoint and every checkpoint entry must map, else nothing is changed."""
    path = Path(checkpoint)
    if not path.exists():
        raise InputError(f"{path}: no such checkpoint")
    mapping = parameter_map(imported)
    if path.name.endswith(".weights.h5"):
        arrays = _keras_weights(path, imported)
    elif path.suffix in (".pt", ".pth", ".bin"):
        arrays = _torch_state_dict(path)
    else:
        raise InputError(f"{path}: checkpoints are torch state_dict files (.pt, .pth) or Keras .weights.h5")
    missing = sorted(set(mapping) - set(arrays))
    unexpected = sorted(
        name for name in set(arrays) - set(mapping) if not name.endswith("num_batches_tracked")
    )
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(
                f"not in the model {', '.join(unexpected[:8])}{' ...' if len(unexpected) > 8 else ''}"
            )
        raise InputError(
            f"{path}: checkpoint does not match the imported model ({'; '.join(parts)}); was the model "
            "converted with trainable=True from the same architecture?"
        )
    staged = {name: mapping[name].to_imported(arrays[name]) for name in mapping}
    for name, entry in mapping.items():  # shapes checked before anything is written
        if tuple(staged[name].shape) != tuple(entry.value.shape):
            raise InputError(
                f"{path}: {name!r} has shape {tuple(arrays[name].shape)}, the model wants "
                f"{tuple(entry.to_source(np.zeros(tuple(entry.value.shape))).shape)}"
            )
    for name, entry in mapping.items():
        entry.assign(arrays[name])
    return sorted(mapping)


def _torch_state_dict(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"{path}: torch cannot load it as a state_dict: {first_line(error)}") from error
    if not isinstance(state, dict):
        raise InputError(f"{path}: holds a {type(state).__name__}, not a state_dict; save model.state_dict()")
    return {name: value.detach().cpu().numpy() for name, value in state.items() if hasattr(value, "detach")}


def _keras_weights(path: Path, imported) -> dict[str, np.ndarray]:
    import h5py

    recorded = metadata(imported).get(KERAS_WEIGHTS_KEY)
    if recorded is None:
        raise InputError(
            f"{path}: the imported model does not record Keras weight paths; convert the Keras model "
            "with trainable=True (convert --trainable)"
        )
    datasets = json.loads(recorded)
    arrays = {}
    try:
        with h5py.File(path, "r") as file:
            for name, key in datasets.items():
                if key in file:
                    arrays[name] = np.asarray(file[key])
    except OSError as error:
        raise InputError(f"{path}: not a readable .weights.h5 file: {first_line(error)}") from error
    return arrays
