"""Seeded inputs that respect each input's dtype and range: ids stay ids, masks stay masks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from toolkit.runners import InputSpec

# Integer inputs without an example or a user range draw from [0, DEFAULT_INTEGER_HIGH).
DEFAULT_INTEGER_HIGH = 10


def resize_batch(array: np.ndarray, batch_size: int) -> np.ndarray:
    """The example's rows repeated or cut to `batch_size`: keeps masks and ids realistic."""
    if array.ndim == 0 or array.shape[0] == batch_size:
        return array
    rows = np.arange(batch_size) % array.shape[0]
    return array[rows]


def generate_inputs(
    templates: Sequence[np.ndarray] | None,
    specs: Sequence[InputSpec] | None,
    batch_size: int | None,
    seed: int,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> list[np.ndarray]:
    """Fresh random data shaped like the templates (or specs), with the batch axis resized."""
    generator = np.random.default_rng(seed)
    ranges = dict(input_ranges or {})
    names = [spec.name for spec in specs] if specs else []
    if templates is not None:
        generated = []
        for index, template in enumerate(templates):
            name = names[index] if index < len(names) else f"input_{index}"
            shaped = resize_batch(template, batch_size) if batch_size else template
            generated.append(_like(shaped, generator, ranges.get(name)))
        return generated
    if not specs:
        raise ValueError("neither example inputs nor input specs to generate data from")
    return [_from_spec(spec, batch_size or 1, generator, ranges.get(spec.name)) for spec in specs]


def _like(template: np.ndarray, generator: np.random.Generator, value_range) -> np.ndarray:
    dtype = template.dtype
    if dtype == np.bool_:
        # Masks keep their structure (padding patterns); fresh random masks could mask a whole row.
        return template.copy()
    if np.issubdtype(dtype, np.integer):
        low, high = value_range or (int(template.min()), int(template.max()) + 1 if template.size else 1)
        return generator.integers(int(low), max(int(high), int(low) + 1), size=template.shape).astype(dtype)
    if value_range:
        low, high = value_range
        return generator.uniform(low, high, size=template.shape).astype(dtype)
    return generator.standard_normal(template.shape).astype(dtype)


def _from_spec(spec: InputSpec, batch_size: int, generator: np.random.Generator, value_range) -> np.ndarray:
    if spec.shape is None:
        raise ValueError(f"input {spec.name!r} has an unknown shape; pass example inputs")
    shape = [
        size if isinstance(size, int) and size >= 0 else (batch_size if axis == 0 else 8)
        for axis, size in enumerate(spec.shape)
    ]
    dtype = spec.dtype if spec.dtype is not None else np.dtype(np.float32)
    if dtype == np.bool_:
        return generator.random(shape) < 0.8
    if np.issubdtype(dtype, np.integer):
        low, high = value_range or (0, DEFAULT_INTEGER_HIGH)
        return generator.integers(int(low), int(high), size=shape).astype(dtype)
    if value_range:
        return generator.uniform(value_range[0], value_range[1], size=shape).astype(dtype)
    return generator.standard_normal(shape).astype(dtype)
