"""LSTM and GRU weights between torch and Keras: the families whose parameters do not map one to one.

The two exporters write a recurrent layer differently (torch.onnx: one LSTM/GRU node fed by
sliced, reordered weights; tf2onnx: a Loop of MatMuls), so these are matched by the frameworks'
own names, cell by cell in order (layers, then forward before reverse). The canonical cell is
Keras's layout: kernel (in, G*h), recurrent_kernel (h, G*h), bias.
- LSTM (G = 4): both use the gate order input, forget, cell, output; torch keeps two biases
  whose sum is Keras's one bias (4h,).
- GRU (G = 3): torch orders the gates reset, update, new (r, z, n), Keras update, reset,
  candidate (z, r, h). torch applies the reset gate after the recurrent matmul, as Keras's
  `reset_after=True` (its default) does, whose bias (2, 3h) is torch's bias_ih and bias_hh
  stacked. `reset_after=False` computes another function: refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from toolkit.errors import InputError

TORCH_NAME = re.compile(
    r"^(?P<base>.*)\.(?P<part>weight_ih|weight_hh|bias_ih|bias_hh)_l(?P<layer>\d+)(?P<reverse>_reverse)?$"
)
KERAS_NAME = re.compile(r"^(?P<base>.*(?:lstm|gru)_cell[^/]*)/(?P<part>kernel|recurrent_kernel|bias)$")
LSTM_GATES, GRU_GATES = 4, 3
# torch GRU chunks (r, z, n) in Keras's order (z, r, h); the permutation is its own inverse.
GRU_TORCH_TO_KERAS = (1, 0, 2)


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


def _gates(recurrent: np.ndarray, torch_layout: bool) -> int:
    """4 for an LSTM, 3 for a GRU: the recurrent weight holds one (h, h) block per gate."""
    rows, columns = recurrent.shape
    return rows // columns if torch_layout else columns // rows


def _reorder_gru(array: np.ndarray, axis: int) -> np.ndarray:
    chunks = np.split(array, GRU_GATES, axis=axis)
    return np.concatenate([chunks[i] for i in GRU_TORCH_TO_KERAS], axis=axis)


def to_canonical(cell: Mapping[str, str], values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "weight_ih" not in cell:
        canonical = {part: values[name] for part, name in cell.items()}
        recurrent = canonical["recurrent_kernel"]
        if _gates(recurrent, torch_layout=False) == GRU_GATES and np.ndim(canonical.get("bias", 0)) == 1:
            raise InputError(
                f"{cell['recurrent_kernel']}: a Keras GRU with reset_after=False applies the reset gate before "
                "the recurrent matmul, torch's GRU after it; write the Keras twin with reset_after=True"
            )
        return canonical
    weight_ih, weight_hh = values[cell["weight_ih"]], values[cell["weight_hh"]]
    hidden = weight_hh.shape[1]
    has_bias = bool(cell.keys() & {"bias_ih", "bias_hh"})
    zeros = np.zeros(weight_hh.shape[0], weight_hh.dtype)
    bias_ih, bias_hh = (values[cell[p]] if p in cell else zeros for p in ("bias_ih", "bias_hh"))
    if _gates(weight_hh, torch_layout=True) == LSTM_GATES:
        return {
            "kernel": weight_ih.T,
            "recurrent_kernel": weight_hh.T,
            "bias": bias_ih + bias_hh if has_bias else np.zeros(4 * hidden, np.float32),
        }
    return {
        "kernel": _reorder_gru(weight_ih, 0).T,
        "recurrent_kernel": _reorder_gru(weight_hh, 0).T,
        "bias": np.stack([_reorder_gru(bias_ih, 0), _reorder_gru(bias_hh, 0)]),
    }


def from_canonical(cell: Mapping[str, str], canonical: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "weight_ih" not in cell:
        return {cell[part]: value for part, value in canonical.items() if part in cell}
    kernel, recurrent = canonical["kernel"], canonical["recurrent_kernel"]
    if _gates(recurrent, torch_layout=False) == GRU_GATES:
        converted = {
            cell["weight_ih"]: np.ascontiguousarray(_reorder_gru(kernel.T, 0)),
            cell["weight_hh"]: np.ascontiguousarray(_reorder_gru(recurrent.T, 0)),
        }
        bias = canonical["bias"]
        if np.ndim(bias) == 2:  # a Keras source with reset_after=True: input and recurrent biases
            for index, part in enumerate(("bias_ih", "bias_hh")):
                if part in cell:
                    converted[cell[part]] = _reorder_gru(bias[index], 0)
        return converted
    converted = {
        cell["weight_ih"]: np.ascontiguousarray(kernel.T),
        cell["weight_hh"]: np.ascontiguousarray(recurrent.T),
    }
    if "bias_ih" in cell:  # the sum is what matters: all of it in bias_ih
        converted[cell["bias_ih"]] = canonical["bias"]
    if "bias_hh" in cell:
        converted[cell["bias_hh"]] = np.zeros_like(canonical["bias"])
    return converted


def transfer(
    source_cells, destination_cells, values: Mapping[str, np.ndarray], targets: Mapping
) -> dict[str, np.ndarray]:
    """Destination arrays for every destination cell parameter, or an InputError listing what differs."""
    problems = []
    if len(source_cells) != len(destination_cells):
        problems.append(
            f"{len(source_cells)} recurrent cell(s) in the source, {len(destination_cells)} in the destination"
        )
    converted: dict[str, np.ndarray] = {}
    for source, destination in zip(source_cells, destination_cells, strict=False):
        arrays = from_canonical(destination, to_canonical(source, values))
        for name, array in arrays.items():
            if tuple(array.shape) != tuple(targets[name].shape):
                problems.append(
                    f"{name}: recurrent part of shape {tuple(targets[name].shape)}, the source gives {array.shape}"
                )
        converted.update(arrays)
    if problems:
        raise InputError(
            "cannot match the twins' parameters unambiguously (nothing written): " + "; ".join(problems[:8])
        )
    return converted
