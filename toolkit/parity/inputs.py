"""Seeded inputs that respect each input's dtype and range: ids stay ids, masks stay masks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from toolkit.runners import InputSpec

# Integer inputs without an example or a user range draw from [0, DEFAULT_INTEGER_HIGH).
DEFAULT_INTEGER_HIGH = 10
# A dynamic non-batch axis without an example (a sequence length) gets this size.
DEFAULT_DYNAMIC_SIZE = 8


def resize_batch(array: np.ndarray, batch_size: int) -> np.ndarray:
    """The example's rows repeated or cut to `batch_size`: keeps masks and ids realistic."""
    return resize_axis(array, 0, batch_size)


def resize_axis(array: np.ndarray, axis: int, size: int) -> np.ndarray:
    """The example repeated or cut to `size` along `axis` (a sequence length, a spatial size)."""
    if array.ndim <= axis or array.shape[axis] == size:
        return array
    return np.take(array, np.arange(size) % array.shape[axis], axis=axis)


def generate_inputs(
    templates: Sequence[np.ndarray] | None,
    specs: Sequence[InputSpec] | None,
    batch_size: int | None,
    seed: int,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    axis_sizes: Mapping[tuple[int, int], int] | None = None,
) -> list[np.ndarray]:
    """Fresh random data shaped like the templates (or specs), with the batch axis resized.

    `axis_sizes` maps (input index, axis) to a size for the other dynamic axes (sequence length).
    """
    generator = np.random.default_rng(seed)
    ranges = dict(input_ranges or {})
    sizes = dict(axis_sizes or {})
    names = [spec.name for spec in specs] if specs else []
    if templates is not None:
        generated = []
        for index, template in enumerate(templates):
            name = names[index] if index < len(names) else f"input_{index}"
            shaped = resize_batch(template, batch_size) if batch_size else template
            for (input_index, axis), size in sizes.items():
                if input_index == index:
                    shaped = resize_axis(shaped, axis, size)
            generated.append(_like(shaped, generator, ranges.get(name)))
        return generated
    if not specs:
        raise ValueError("neither example inputs nor input specs to generate data from")
    return [
        _from_spec(
            spec,
            batch_size or 1,
            generator,
            ranges.get(spec.name),
            {axis: size for (i, axis), size in sizes.items() if i == index},
        )
        for index, spec in enumerate(specs)
    ]


def dynamic_axes(specs_per_model: Sequence[Sequence | None]) -> dict[str, list[tuple[int, int]]]:
    """Non-batch axes every model leaves dynamic, grouped by symbol: {"sequence": [(0, 1), (1, 1)]}.

    Axes sharing a dim_param must change together (input_ids and attention_mask share a length);
    a model that declares a fixed size on an axis pins it, and a model without specs (torch) does
    not constrain anything.
    """
    declared = [specs for specs in specs_per_model if specs and any(s.shape is not None for s in specs)]
    if not declared:
        return {}
    first = declared[0]
    groups: dict[str, list[tuple[int, int]]] = {}
    batch_symbols = {
        s.shape[0] for specs in declared for s in specs if s.shape and isinstance(s.shape[0], str)
    }
    for index, spec in enumerate(first):
        if spec.shape is None:
            continue
        for axis in range(1, len(spec.shape)):
            if not all(_is_dynamic(specs, index, axis) for specs in declared):
                continue
            size = spec.shape[axis]
            symbol = size if isinstance(size, str) and size else f"{spec.name}.{axis}"
            if symbol in batch_symbols:
                continue
            groups.setdefault(symbol, []).append((index, axis))
    return groups


def _is_dynamic(specs, index: int, axis: int) -> bool:
    if index >= len(specs) or specs[index].shape is None:
        return True
    shape = specs[index].shape
    return axis < len(shape) and not (isinstance(shape[axis], int) and shape[axis] >= 0)


def _like(template: np.ndarray, generator: np.random.Generator, value_range) -> np.ndarray:
    dtype = template.dtype
    if dtype == np.bool_ or (np.issubdtype(dtype, np.integer) and template.size and _is_binary(template)):
        # Masks (bool, or transformers' 0/1 attention_mask) keep their padding patterns: fresh random
        # masks could mask a whole row, or a token's every key, where the output is arbitrary.
        return template.copy()
    if np.issubdtype(dtype, np.integer):
        low, high = value_range or (int(template.min()), int(template.max()) + 1 if template.size else 1)
        return generator.integers(int(low), max(int(high), int(low) + 1), size=template.shape).astype(dtype)
    if value_range:
        low, high = value_range
        return generator.uniform(low, high, size=template.shape).astype(dtype)
    return generator.standard_normal(template.shape).astype(dtype)


def _is_binary(template: np.ndarray) -> bool:
    """Both 0 and 1 and nothing else: a padding mask, not token ids."""
    return bool(np.isin(template, (0, 1)).all()) and np.unique(template).size == 2


def _from_spec(
    spec: InputSpec, batch_size: int, generator: np.random.Generator, value_range, axis_sizes=None
) -> np.ndarray:
    if spec.shape is None:
        raise ValueError(f"input {spec.name!r} has an unknown shape; pass example inputs")
    axis_sizes = axis_sizes or {}
    shape = [
        size
        if isinstance(size, int) and size >= 0
        else (batch_size if axis == 0 else axis_sizes.get(axis, DEFAULT_DYNAMIC_SIZE))
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
