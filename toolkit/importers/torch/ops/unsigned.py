"""Wide unsigned integers: handlers on uint16/32/64 compute on int64 and cast back."""

from __future__ import annotations

import functools

import torch

from toolkit.importers.torch.ops.values import maybe_dtype

# torch has no arithmetic, comparison or shift kernels for uint16/32/64 (only copies and casts), so
# handlers compute on int64 and cast back: exact for uint16/32; uint64 keeps its bits (wrapping
# arithmetic is the same in two's complement) and, where order matters, has its sign bit flipped
# so that signed order is unsigned order.
WIDE_UNSIGNED = frozenset({torch.uint16, torch.uint32, torch.uint64})
_SIGN_BIT = -(2**63)


def to_int64(value, dtype: torch.dtype, ordered: bool = False):
    wide = value.to(torch.int64)
    return torch.bitwise_xor(wide, _SIGN_BIT) if ordered and dtype == torch.uint64 else wide


def from_int64(value, dtype: torch.dtype, ordered: bool = False):
    if ordered and dtype == torch.uint64:
        value = torch.bitwise_xor(value, _SIGN_BIT)
    return value.to(dtype)


def unsigned_via_int64(ordered: bool = False, restore: bool | tuple[int, ...] = True):
    """Run a handler on uint16/32/64 inputs as int64 (see above); cast the results at the
    positions `restore` names (True: all of them) back to the unsigned type."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            dtype = next((d for d in map(maybe_dtype, args) if d in WIDE_UNSIGNED), None)
            if dtype is None:
                return function(*args, **kwargs)
            args = tuple(to_int64(a, dtype, ordered) if maybe_dtype(a) == dtype else a for a in args)
            result = function(*args, **kwargs)
            if restore is True:
                if isinstance(result, tuple):
                    return tuple(from_int64(r, dtype, ordered) for r in result)
                return from_int64(result, dtype, ordered)
            if restore:
                return tuple(
                    from_int64(r, dtype, ordered) if i in restore else r for i, r in enumerate(result)
                )
            return result

        return wrapper

    return decorate


def unsigned_divmod(a, b):
    """Quotient and remainder of uint64 values held as int64 bit patterns (Hacker's Delight 9-3)."""

    def below(x, y):  # unsigned x < y
        return torch.bitwise_xor(x, _SIGN_BIT) < torch.bitwise_xor(y, _SIGN_BIT)

    halved = torch.bitwise_and(torch.bitwise_right_shift(a, 1), 2**63 - 1)  # logical a >> 1
    divisor = torch.where(b < 0, torch.ones_like(b), b)  # b ≥ 2**63 is handled below
    quotient = torch.bitwise_left_shift(torch.div(halved, divisor, rounding_mode="floor"), 1)
    remainder = a - quotient * divisor
    fix = ~below(remainder, divisor)
    quotient = torch.where(fix, quotient + 1, quotient)
    remainder = torch.where(fix, remainder - divisor, remainder)
    large = (~below(a, b)).to(torch.int64)  # a divisor ≥ 2**63 goes into a at most once
    quotient = torch.where(b < 0, large, quotient)
    remainder = torch.where(b < 0, a - large * b, remainder)
    return quotient, remainder
