"""Inputs that respect dtype and range, dynamic axes beyond the batch, and layout permutations."""

from __future__ import annotations

import numpy as np
import parity_graphs as graphs
import pytest

from toolkit import verify_parity
from toolkit.errors import UsageError
from toolkit.parity.inputs import dynamic_axes, generate_inputs, resize_axis
from toolkit.runners import InputSpec


def test_ids_respect_their_range_and_masks_stay_boolean():
    specs = [
        InputSpec("input_ids", np.dtype(np.int64), ("batch", "sequence")),
        InputSpec("mask", np.dtype(bool), ("batch", "sequence")),
    ]
    ids, mask = generate_inputs(
        None, specs, 3, seed=0, input_ranges={"input_ids": (0, 30522)}, axis_sizes={(0, 1): 5, (1, 1): 5}
    )
    assert ids.shape == mask.shape == (3, 5)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 30522
    assert mask.dtype == np.bool_


def test_the_same_seed_gives_the_same_data():
    template = [np.zeros((2, 4), np.float32)]
    first = generate_inputs(template, None, 2, seed=7)
    assert np.array_equal(first[0], generate_inputs(template, None, 2, seed=7)[0])
    assert not np.array_equal(first[0], generate_inputs(template, None, 2, seed=8)[0])


def test_resize_axis_repeats_the_example():
    mask = np.array([[True, True, False]])
    assert resize_axis(mask, 1, 5).tolist() == [[True, True, False, True, True]]


def test_shared_dim_params_are_varied_together():
    specs = [
        InputSpec("input_ids", np.dtype(np.int64), ("batch", "sequence")),
        InputSpec("mask", np.dtype(bool), ("batch", "sequence")),
    ]
    assert dynamic_axes([specs, None]) == {"sequence": [(0, 1), (1, 1)]}
    pinned = [
        InputSpec("input_ids", np.dtype(np.int64), ("batch", 16)),
        InputSpec("mask", np.dtype(bool), ("batch", 16)),
    ]
    assert dynamic_axes([specs, pinned]) == {}


def test_a_dynamic_sequence_is_run_at_several_lengths():
    model = graphs.with_ids_and_mask()
    report = verify_parity(
        model, model, input_ranges={"input_ids": (0, 30)}, dim_sizes={"sequence": [3, 11]}, batch_sizes=[1, 4]
    )
    assert report
    shapes = [(run.batch_size, run.dims) for run in report.candidates[0].runs]
    assert shapes == [(1, {}), (4, {}), (1, {"sequence": 3}), (1, {"sequence": 11})]


def test_an_unknown_dynamic_axis_is_a_usage_error():
    model = graphs.mlp()
    with pytest.raises(UsageError, match="sequence"):
        verify_parity(model, model, dim_sizes={"sequence": [4]})


def test_a_dynamic_sequence_gets_a_second_length_by_default():
    model = graphs.mlp(dynamic_sequence=True)
    report = verify_parity(model, model, example_inputs=np.zeros((2, 6, graphs.FEATURES), np.float32))
    assert report
    assert {"sequence": 3} in [run.dims for run in report.candidates[0].runs]


def test_an_nhwc_twin_matches_through_input_and_output_permutations():
    nchw, nhwc = graphs.nhwc_twin()
    report = verify_parity(
        nchw, [nchw, nhwc], input_perm={"image": (0, 2, 3, 1)}, output_perm={"features": (0, 2, 3, 1)}
    )
    assert report, report
    same_layout, twin = report.candidates
    assert same_layout.layout == []  # its declared shape is the reference's: left alone
    assert any("input image permuted 0,2,3,1" in line for line in twin.layout)
    assert any("output features permuted back" in line for line in twin.layout)
    assert report.to_dict()["settings"]["input_perm"] == {"image": [0, 2, 3, 1]}


def test_without_the_permutation_the_twin_fails_clearly():
    nchw, nhwc = graphs.nhwc_twin()
    report = verify_parity(nchw, nhwc)
    assert not report
    assert "error" in report.candidates[0].verdict and "image" in report.candidates[0].verdict


def test_a_bad_permutation_name_is_a_usage_error():
    nchw, nhwc = graphs.nhwc_twin()
    with pytest.raises(UsageError, match="pixels"):
        verify_parity(nchw, nhwc, input_perm={"pixels": (0, 2, 3, 1)})


def test_per_output_tolerance_overrides_the_default():
    model = graphs.mlp()
    broken = graphs.perturb_weight(model, "w3", amount=0.001)
    assert not verify_parity(model, broken, localize=False)
    assert verify_parity(model, broken, tolerances={"logits": (0.05, 0.05)}, localize=False)
    with pytest.raises(UsageError, match="unknown output"):
        verify_parity(model, broken, tolerances={"probabilities": (0.05, 0.05)})
