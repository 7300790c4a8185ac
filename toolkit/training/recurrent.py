"""LSTM weights between torch and Keras: the one family whose parameters do not map one to one.

The two exporters write an LSTM differently (torch.onnx: one LSTM node fed by sliced, reordered
weights; tf2onnx: a Loop of MatMuls), so these are matched by the frameworks' own names, cell by
cell in order (layers, then forward before reverse). Both use the gate order input, forget, cell,
output; torch keeps two biases whose sum is Keras's one. The canonical cell is Keras's layout:
kernel (in, 4h), recurrent_kernel (h, 4h), bias (4h,).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from toolkit.errors import InputError

TORCH_NAME = re.compile(
    r"^(?P<base>.*)\.(?P<part>weight_ih|weight_hh|bias_ih|bias_hh)_l(?P<layer>\d+)(?P<reverse>_reverse)?$"
)
KERAS_NAME = re.compile(r"^(?P<base>.*lstm_cell[^/]*)/(?P<part>kernel|recurrent_kernel|bias)$")


def cells(names: Iterable[str]) -> list[dict[str, str]]:
    """Recurrent cells among parameter names, in order: [{part: parameter name}]."""
    torch_cells: dict[tuple, dict[str, str]] = {}
    keras_cells: dict[str, dict[str, str]] = {}
    for name in names:
        found = TORCH_NAME.match(name)
        if found:
            key = (found["base"], int(found["layer"]), bool(found["reverse"]))
            torch_cells.setdefault(key, {})[found["part"]] = name
            continue
        found = KERAS_NAME.match(name)
        if found:
            keras_cells.setdefault(found["base"], {})[found["part"]] = name
    return [torch_cells[k] for k in sorted(torch_cells)] + list(keras_cells.values())


def to_canonical(cell: Mapping[str, str], values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "weight_ih" in cell:
        bias = sum(values[cell[p]] for p in ("bias_ih", "bias_hh") if p in cell)
        hidden = values[cell["weight_hh"]].shape[1]
        return {
            "kernel": values[cell["weight_ih"]].T,
            "recurrent_kernel": values[cell["weight_hh"]].T,
            "bias": bias if cell.keys() & {"bias_ih", "bias_hh"} else np.zeros(4 * hidden, np.float32),
        }
    return {part: values[name] for part, name in cell.items()}


def from_canonical(cell: Mapping[str, str], canonical: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "weight_ih" in cell:
        converted = {
            cell["weight_ih"]: np.ascontiguousarray(canonical["kernel"].T),
            cell["weight_hh"]: np.ascontiguousarray(canonical["recurrent_kernel"].T),
        }
        if "bias_ih" in cell:  # the sum is what matters: all of it in bias_ih
            converted[cell["bias_ih"]] = canonical["bias"]
        if "bias_hh" in cell:
            converted[cell["bias_hh"]] = np.zeros_like(canonical["bias"])
        return converted
    return {cell[part]: value for part, value in canonical.items() if part in cell}


def transfer(
    source_cells, destination_cells, values: Mapping[str, np.ndarray], targets: Mapping
) -> dict[str, np.ndarray]:
    """Destination arrays for every destination cell parameter, or an InputError listing what differs."""
    problems = []
    if len(source_cells) != len(destination_cells):
        problems.append(
            f"{len(source_cells)} LSTM cell(s) in the source, {len(destination_cells)} in the destination"
        )
    converted: dict[str, np.ndarray] = {}
    for source, destination in zip(source_cells, destination_cells, strict=False):
        arrays = from_canonical(destination, to_canonical(source, values))
        for name, array in arrays.items():
            if tuple(array.shape) != tuple(targets[name].shape):
                problems.append(
                    f"{name}: LSTM part of shape {tuple(targets[name].shape)}, the source gives {array.shape}"
                )
        converted.update(arrays)
    if problems:
        raise InputError(
            "cannot match the twins' parameters unambiguously (nothing written): " + "; ".join(problems[:8])
        )
    return converted
