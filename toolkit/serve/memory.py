"""Giving a large request's memory back to the operating system once it is answered.

glibc raises its mmap threshold each time a large block is freed (up to 32 MiB on 64-bit), so
after one large request the next ones are carved from the heap, whose top is rarely free and
so is never trimmed: RSS stays at its peak. A fixed threshold keeps every large buffer (bodies,
tensors, responses) in its own mapping, unmapped on free, and malloc_trim returns what smaller
blocks freed. Elsewhere than glibc both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt's parameter number for M_MMAP_THRESHOLD (malloc.h).
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def keep_large_buffers_mapped() -> bool:
    """Fix glibc's mmap threshold so large blocks are unmapped when freed; False when not glibc."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def return_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc's malloc_trim)."""
    libc = _libc()
    if libc:
        libc.malloc_trim(0)
