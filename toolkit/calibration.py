"""Representative data for int8 calibration: a user's .npz checked against the model, or seeded random data.

Both int8 paths (TFLite `int8-full` and ONNX static quantization) read their samples here, so a
wrong name, dtype or shape is the same one-line input error whichever converter asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from toolkit.errors import InputError

# Random calibration: enough samples for min/max ranges to settle on small models.
RANDOM_SAMPLES = 32


class CalibrationWarning(UserWarning):
    """Calibration fell back to random data: the int8 ranges then reflect noise, not the user's inputs."""


def graph_inputs(model: onnx.ModelProto) -> list[tuple[str, np.dtype, tuple]]:
    """(name, dtype, shape) of each real graph input; unknown sizes are None."""
    initializers = {i.name for i in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)
        specs.append((value.name, dtype, shape))
    return specs


def load_calibration(
    model: onnx.ModelProto,
    path: str | Path | None,
    purpose: str,
    samples: int = RANDOM_SAMPLES,
    batch_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Calibration samples keyed by input name, stacked along axis 0 (the batch).

    Without `path`, seeded random data shaped like each input (a CalibrationWarning says so);
    `batch_size` fixes the size of an unknown batch axis for that random data.
    """
    specs = graph_inputs(model)
    if path is None:
        warnings.warn(
            CalibrationWarning(
                f"{purpose} without --calibration: calibrating on {samples} random samples per input "
                "(standard normal floats); pass --calibration data.npz with real inputs for meaningful int8 ranges"
            ),
            stacklevel=2,
        )
        return random_calibration(specs, samples)
    return read_calibration(path, specs)


def read_calibration(path: str | Path, specs) -> dict[str, np.ndarray]:
    """An .npz keyed by input name, each array with the input's dtype and shape (any batch size)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such calibration file")
    try:
        with np.load(path, allow_pickle=False) as loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except Exception as error:
        raise InputError(f"{path}: not a readable .npz calibration file ({error})") from error
    names = [name for name, _, _ in specs]
    missing = [name for name in names if name not in arrays]
    unknown = [name for name in arrays if name not in names]
    if missing or unknown:
        found = ", ".join(arrays) or "nothing"
        raise InputError(
            f"{path}: calibration arrays must be named after the model's inputs ({', '.join(names)}); "
            f"it has {found}"
        )
    counts = set()
    for name, dtype, shape in specs:
        check_array(path, name, arrays[name], dtype, shape)
        counts.add(arrays[name].shape[0] if arrays[name].ndim else 1)
    if len(counts) > 1:
        raise InputError(f"{path}: calibration inputs have different sample counts {sorted(counts)}")
    return {name: arrays[name] for name in names}


def check_array(label, name: str, array: np.ndarray, dtype: np.dtype, shape: tuple) -> None:
    """One calibration array against one graph input: dtype, rank, every fixed size but the batch."""
    if array.dtype != dtype:
        raise InputError(
            f"{label}: calibration input {name!r} has dtype {array.dtype}, the model takes {dtype}; "
            f"save it with .astype(np.{dtype})"
        )
    if array.ndim != len(shape) or any(
        want is not None and want != got
        for axis, (got, want) in enumerate(zip(array.shape, shape, strict=False))
        if axis
    ):
        expected = "x".join("?" if size is None else str(size) for size in shape)
        raise InputError(
            f"{label}: calibration input {name!r} has shape {'x'.join(map(str, array.shape))}, "
            f"the model takes {expected} (samples along axis 0)"
        )


def random_calibration(specs, samples: int = RANDOM_SAMPLES, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random samples shaped like each input: floats standard normal, integers in [0, 10), masks mostly on."""
    generator = np.random.default_rng(seed)
    arrays = {}
    for name, dtype, shape in specs:
        full = (samples, *[1 if size is None else size for size in shape[1:]])
        if dtype == np.bool_:
            arrays[name] = generator.random(full) < 0.8
        elif np.issubdtype(dtype, np.integer):
            arrays[name] = generator.integers(0, 10, size=full).astype(dtype)
        else:
            arrays[name] = generator.standard_normal(full).astype(dtype)
    return arrays


def batches(arrays: Mapping[str, np.ndarray], batch_size: int = 1):
    """The samples as feeds of `batch_size` rows each, in order."""
    count = len(next(iter(arrays.values())))
    for start in range(0, count - batch_size + 1, batch_size):
        yield {name: array[start : start + batch_size] for name, array in arrays.items()}
