"""0-d tensors keep shape () through both importers, on the paths users get: the torch GraphModule
and the traced TensorFlow tf.function (issue 10: a scalar BitCast, Scan over scalars, Range
expanded through Loop, the Gradient model cases came back as (1,) or (2, 1)).

The cases are onnx's own backend cases; each value of theirs that is 0-d must come back 0-d.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from tests.importers import conformance

SCALAR_CASES = (
    "test_bitcast_scalar_float32_to_int32",
    "test_scan9_scalar",
    "test_range_bfloat16_type_positive_delta_expanded",
    "test_range_float_type_positive_delta_expanded",
    "test_range_int32_type_negative_delta_expanded",
    "test_gradient_of_add",
    "test_gradient_of_add_and_mul",
)


@pytest.fixture(scope="module")
def cases():
    wanted = [c for c in conformance.node_cases() + conformance.model_cases() if c.name in SCALAR_CASES]
    assert sorted(c.name for c in wanted) == sorted(SCALAR_CASES)
    return {c.name: c for c in wanted}


def _torch_compile():
    from tests.importers.conformance_torch import compile_model

    return compile_model


def _tensorflow_traced_compile():
    pytest.importorskip("tensorflow")
    from tests.importers.conformance_tensorflow import compile_model

    return compile_model


@pytest.mark.parametrize(
    "importer", [_torch_compile, _tensorflow_traced_compile], ids=["torch", "tensorflow"]
)
@pytest.mark.parametrize("name", SCALAR_CASES)
def test_zero_d_values_keep_shape_empty(cases, importer, name):
    case = cases[name]
    model, data_sets = case.load()
    runner = importer()(model)
    for feeds, expected in data_sets:
        outputs = runner(list(feeds))
        for want, got in zip(expected, outputs, strict=True):
            assert np.shape(conformance._to_numpy(got)) == np.shape(want)
            assert conformance.compare_values(want, got, case.rtol, case.atol) == ""
    assert any(np.ndim(v) == 0 for feeds, expected in data_sets for v in [*feeds, *expected])
