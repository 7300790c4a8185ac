"""Reshape targets computed from shapes, resolved once when the model is built.

tf2onnx writes Keras's einsum and Dense on 3-D inputs as Shape → Gather → ReduceProd → Concat →
Reshape: per call, a dozen small ops rebuild a target such as [batch * heads, -1, 16]. The core
tracks such elements (core._track_elements), a product of a symbolic batch and sizes included
(`Monomial`); `static_target` compares them with the data's own dims, and when at most one entry
stays unknown it becomes the -1, so the handler reshapes to a constant.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Monomial:
    """A dimension known as coefficient × a product of symbols (each a dim_param or a value's axis)."""

    coefficient: int
    symbols: tuple[str, ...]  # sorted


def product(values: Sequence) -> int | str | Monomial | None:
    """The product of dims given as ints, symbols (str) or Monomials; None if any is unknown."""
    coefficient, symbols = 1, []
    for value in values:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int):
            coefficient *= value
        elif isinstance(value, str):
            symbols.append(value)
        elif isinstance(value, Monomial):
            coefficient *= value.coefficient
            symbols.extend(value.symbols)
        else:
            return None
    if not symbols or coefficient == 0:
        return coefficient
    if coefficient == 1 and len(symbols) == 1:
        return symbols[0]
    return Monomial(coefficient, tuple(sorted(symbols)))


def _parts(value) -> tuple[int, Counter] | None:
    """(coefficient, symbols) of a dim; None when it is not known even symbolically."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value, Counter()
    if isinstance(value, str):
        return 1, Counter([value])
    if isinstance(value, Monomial):
        return value.coefficient, Counter(value.symbols)
    return None


def static_target(data_dims: Sequence | None, target: Sequence | None) -> list[int] | None:
    """`target` (ints, -1, symbols, Monomials) as ints with at most one -1, or None.

    ONNX Reshape: the -1 takes what the other entries leave of the element count. One unknown
    entry simply becomes the -1. A symbolic entry beside a -1 ([batch * 4, -1, 16] of data
    [batch, 4, 1, 8, 16]) leaves the -1 a plain size (8) when the symbols cancel, and then the
    symbolic entry is the -1. A 0 (copy the input's dim) is the handler's business: None.
    """
    if target is None:
        return None
    entries = list(target)
    if any(isinstance(v, int) and v == 0 for v in entries):
        return None
    unknown = [i for i, v in enumerate(entries) if not (isinstance(v, int) and v > 0)]
    if any(_parts(entries[i]) is None for i in unknown):
        return None
    if len(unknown) <= 1:
        return [-1 if i in unknown else int(v) for i, v in enumerate(entries)]
    free = [i for i in unknown if entries[i] == -1]
    symbolic = [i for i in unknown if entries[i] != -1]
    total = _parts(product(list(data_dims))) if data_dims is not None else None
    if total is None or len(free) != 1 or len(symbolic) != 1:
        return None
    coefficient, symbols = total
    entry_coefficient, entry_symbols = _parts(entries[symbolic[0]])
    divisor = entry_coefficient * math.prod(int(entries[i]) for i in range(len(entries)) if i not in unknown)
    if symbols != entry_symbols or divisor <= 0 or coefficient % divisor:
        return None
    entries[free[0]] = coefficient // divisor
    entries[symbolic[0]] = -1
    return [int(v) for v in entries]


def reshaped_dims(data_dims: Sequence, target: Sequence[int]) -> list | None:
    """The output dims of Reshape(data, target) for a static `target` (one -1 at most), the -1
    as what the data's element count leaves (an int, a symbol or a Monomial); None if unknown."""
    if -1 not in target:
        return list(target)
    total = _parts(product(list(data_dims)))
    if total is None:
        return None
    coefficient, symbols = total
    known = math.prod(v for v in target if v != -1)
    if known <= 0 or coefficient % known:
        return None
    rest = [coefficient // known, *sorted(symbols.elements())]
    return [product(rest) if v == -1 else v for v in target]
