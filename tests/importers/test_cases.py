"""The shared case table (cases.py) through both importers, onnx's ReferenceEvaluator as the oracle.

TensorFlow runs the traced tf.function users get; torch the GraphModule `import_onnx` returns.
onnxruntime is the oracle for the few cases the evaluator gets wrong (cases.ONNXRUNTIME_ORACLE).
"""

import os
import sys

import numpy as np
import onnxruntime
import pytest
from onnx.reference import ReferenceEvaluator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))
from cases import CASES, EXPECTED_FAILURES, ONNXRUNTIME_ORACLE  # noqa: E402


def _run_torch(model, feeds):
    import torch

    from toolkit.importers.torch import import_onnx

    result = import_onnx(model)(*[torch.from_numpy(v) for v in feeds.values()])
    return [r.detach().numpy() for r in (result if isinstance(result, (tuple, list)) else (result,))]


def _run_tensorflow(model, feeds):
    from toolkit.importers.tensorflow import import_onnx

    result = import_onnx(model)(*feeds.values())
    return [np.asarray(r) for r in (result if isinstance(result, (tuple, list)) else (result,))]


RUNNERS = {"torch": _run_torch, "tensorflow": _run_tensorflow}


def _compare(case, framework):
    model = case.model()
    if case.name in ONNXRUNTIME_ORACLE:
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        expected = session.run(None, case.feeds)
    else:
        expected = ReferenceEvaluator(model).run(None, case.feeds)
    got = RUNNERS[framework](model, case.feeds)
    assert len(got) == len(expected), f"{len(got)} outputs, expected {len(expected)}"
    for name, want, have in zip(case.outputs, expected, got, strict=True):
        assert have.shape == want.shape, f"{name}: shape {have.shape}, expected {want.shape}"
        np.testing.assert_allclose(have, want, rtol=case.rtol, atol=case.atol, err_msg=name)


@pytest.mark.parametrize("framework", sorted(RUNNERS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case, framework):
    reason = EXPECTED_FAILURES[framework].get(case.name)
    if reason is None:
        _compare(case, framework)
        return
    try:
        _compare(case, framework)
    except Exception:
        pytest.xfail(reason)
    pytest.fail(f"{case.name} is listed as failing in {framework} ({reason}) but passes: remove it")


def test_expected_failures_name_cases():
    names = {c.name for c in CASES}
    assert len(names) == len(CASES), "case names must be unique"
    for framework, failures in EXPECTED_FAILURES.items():
        assert set(failures) <= names, f"{framework}: {sorted(set(failures) - names)} are not cases"
        assert all(failures.values()), f"{framework}: every expected failure says why"
    assert set(ONNXRUNTIME_ORACLE) <= names
