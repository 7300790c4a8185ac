"""Helpers shared by the exporter tests: resize example inputs to a batch, compare outputs."""

from __future__ import annotations

import numpy as np
import pytest

BATCH_SIZES = (2, 5)


def _at_batch(arrays, batch: int) -> tuple[np.ndarray, ...]:
    """The examples sliced or tiled along axis 0 to `batch` rows."""
    return tuple(np.resize(array, (batch, *array.shape[1:])) for array in arrays)


def _assert_close(actual, expected) -> None:
    # float32 exporters: max abs error < 1e-4 unless the value is large (rtol 1e-3).
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-3, atol=1e-4)


@pytest.fixture(scope="session")
def at_batch():
    return _at_batch


@pytest.fixture(scope="session")
def assert_close():
    return _assert_close
