"""Parsers for the command line's NAME:VALUE options, shared by every command that takes them."""

from __future__ import annotations

import math

from toolkit.errors import UsageError

# Parity runs a model at a few sizes to prove it; past these it only exhausts memory (MemoryError).
MAX_BATCH_SIZE = 4096
MAX_DIM_SIZE = 65536
MAX_SAMPLES = 1000


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """NAME:1x3x224x224 -> ("NAME", (1, 3, 224, 224))."""
    name, separator, dims = text.rpartition(":")
    if not separator or not name or not dims:
        raise UsageError(f"--input-shape {text!r}: expected NAME:DIMS, e.g. image:1x3x224x224")
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        raise UsageError(f"--input-shape {text!r}: dimensions must be integers separated by 'x'") from None
    if any(d <= 0 for d in shape):
        raise UsageError(f"--input-shape {text!r}: dimensions must be positive")
    if math.prod(shape) > 1 << 31:
        raise UsageError(
            f"--input-shape {text!r}: {math.prod(shape):,} elements is more than any example needs"
        )
    return name, shape


def parse_dynamic(values: tuple[str, ...]) -> dict[str, list[int] | dict[int, str | None]] | None:
    """NAME:0[,1] (repeatable) -> {"NAME": [0, 1]}; NAME:0=batch,1=sequence names the axes
    ({"NAME": {0: "batch", 1: "sequence"}}); `none` makes every input static."""
    if not values:
        return None
    if values == ("none",):
        return {}
    axes: dict[str, dict[int, str | None]] = {}
    for text in values:
        name, separator, listed = text.rpartition(":")
        if not separator or not name:
            raise UsageError(f"--dynamic {text!r}: expected NAME:AXIS[=NAME][,AXIS], e.g. tokens:0=batch,1")
        for item in listed.split(","):
            axis, _, label = item.partition("=")
            try:
                index = int(axis)
            except ValueError:
                raise UsageError(f"--dynamic {text!r}: axes must be integers, e.g. x:0=batch") from None
            named = axes.setdefault(name, {})
            if index in named:
                raise UsageError(f"--dynamic {text!r}: an axis is named twice")
            named[index] = label.strip() or None
    return {name: named if any(named.values()) else list(named) for name, named in axes.items()}


def parse_tolerance(text: str) -> tuple[str, tuple[float, float]]:
    name, rtol, atol = _split3(text, "--tol", "NAME:RTOL:ATOL, e.g. logits:1e-3:1e-5")
    check_tolerance(float(rtol), f"--tol {text}: RTOL")
    check_tolerance(float(atol), f"--tol {text}: ATOL")
    return name, (float(rtol), float(atol))


def check_tolerance(value: float | None, option: str) -> None:
    """A tolerance is a finite number ≥ 0: a negative one makes every run fail, NaN makes every run pass."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise UsageError(f"{option} {value}: a tolerance must be a finite number of 0 or more, e.g. 1e-4")


def check_samples(samples: int) -> None:
    if not 1 <= samples <= MAX_SAMPLES:
        raise UsageError(f"--samples {samples}: choose 1 to {MAX_SAMPLES}")


def check_batch_sizes(sizes, option: str = "--batch-sizes") -> None:
    for size in sizes or ():
        if not 1 <= size <= MAX_BATCH_SIZE:
            raise UsageError(
                f"{option} {size}: choose sizes from 1 to {MAX_BATCH_SIZE}; parity needs a few small batches, "
                "not a production-sized one"
            )


def parse_range(text: str) -> tuple[str, tuple[float, float]]:
    name, low, high = _split3(text, "--input-range", "NAME:LOW:HIGH, e.g. input_ids:0:30522")
    if float(high) <= float(low):
        raise UsageError(f"--input-range {text!r}: HIGH must be greater than LOW")
    return name, (float(low), float(high))


def _split3(text: str, option: str, example: str) -> tuple[str, str, str]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise UsageError(f"{option} {text!r}: expected {example}")
    try:
        float(parts[1]), float(parts[2])
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected numbers, as in {example}") from None
    return parts[0], parts[1], parts[2]


def parse_perm(text: str, option: str) -> tuple[str, tuple[int, ...]]:
    """NAME:0,2,3,1 -> ("NAME", (0, 2, 3, 1)), checked to be a permutation."""
    name, separator, listed = text.rpartition(":")
    try:
        perm = tuple(int(axis) for axis in listed.split(","))
    except ValueError:
        perm = ()
    if not separator or not name or sorted(perm) != list(range(len(perm))) or not perm:
        raise UsageError(f"{option} {text!r}: expected NAME:PERMUTATION, e.g. image:0,2,3,1")
    return name, perm


def parse_dim_sizes(text: str) -> tuple[str, list[int]]:
    """SYMBOL=8,64 -> ("SYMBOL", [8, 64])."""
    symbol, separator, listed = text.rpartition("=")
    try:
        sizes = [int(size) for size in listed.split(",") if size.strip()]
    except ValueError:
        sizes = []
    if not separator or not symbol or not sizes or any(size <= 0 for size in sizes):
        raise UsageError(
            f"--dim-sizes {text!r}: expected SYMBOL=SIZES, e.g. sequence=8,64 or input_ids.1=8,64"
        )
    if max(sizes) > MAX_DIM_SIZE:
        raise UsageError(f"--dim-sizes {text!r}: choose sizes from 1 to {MAX_DIM_SIZE}")
    return symbol, sizes


def parse_batch_sizes(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--batch-sizes {text!r}: expected comma-separated integers, e.g. 1,4,32") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise UsageError(f"--batch-sizes {text!r}: sizes must be positive")
    check_batch_sizes(sizes)
    return sizes
