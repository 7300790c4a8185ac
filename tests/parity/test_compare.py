"""Metrics and verdicts per output: mismatches are reported, never raised."""

import numpy as np

from toolkit.parity.compare import compare_output, default_tolerance


def test_identical_outputs_pass_with_zero_error():
    x = np.linspace(-1, 1, 10, dtype=np.float32)
    result = compare_output("y", x, x.copy())
    assert result.passed and result.max_abs == 0.0 and result.cosine == 1.0


def test_one_element_outside_tolerance_fails_and_is_counted():
    reference = np.ones(100, np.float32)
    candidate = reference.copy()
    candidate[7] += 0.1
    result = compare_output("y", reference, candidate)
    assert not result.passed
    assert result.outside_share == 0.01
    assert abs(result.max_abs - 0.1) < 1e-6


def test_shape_and_missing_outputs_are_reported():
    assert "differs" in compare_output("y", np.zeros((2, 3)), np.zeros((3, 2))).problem
    assert compare_output("y", np.zeros(3), None).problem == "missing in the candidate"


def test_nan_positions_must_match():
    reference = np.float32([1.0, np.nan, 3.0])
    assert compare_output("y", reference, reference.copy()).passed
    mismatch = compare_output("y", reference, np.float32([1.0, 2.0, 3.0]))
    assert not mismatch.passed and mismatch.nan_mismatch == 1


def test_integers_are_exact_and_float_defaults_follow_the_dtype():
    assert not compare_output("ids", np.int64([1, 2]), np.int64([1, 3])).passed
    assert default_tolerance(np.float16) > default_tolerance(np.float32) > default_tolerance(np.float64)
    assert default_tolerance(np.int32) == (0.0, 0.0)
