"""DFT and STFT handlers (torch/ops/signal.py), checked against onnx's reference evaluator."""

import numpy as np
import pytest

from tests.importers.test_torch_ops import _check
from tests.importers.torch_single_node import _constant, _model

rng = np.random.default_rng(1)

# ----------------------------------------------------------------------------- DFT and STFT


def test_dft_17_onesided_real_with_length():
    x = rng.standard_normal((2, 9, 3, 1)).astype(np.float32)
    model = _model(
        "DFT", ["x", "n"], {"x": x}, {"onesided": 1, "axis": 1}, [_constant("n", np.int64(12))], opset=17
    )
    _check(model, {"x": x}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("parts", "inverse", "onesided", "axis", "length"),
    [(2, 1, 0, 1, None), (2, 0, 1, -2, 6), (2, 1, 1, 2, 8), (1, 0, 0, 2, None)],
)
def test_dft_20(parts, inverse, onesided, axis, length):
    x = rng.standard_normal((2, 5, 5, parts)).astype(np.float32)
    names, initializers = ["x", "", "axis"], [_constant("axis", np.int64(axis))]
    if length is not None:
        names[1] = "n"
        initializers.append(_constant("n", np.int64(length)))
    attributes = {"inverse": inverse, "onesided": onesided}
    model = _model("DFT", names, {"x": x}, attributes, initializers, opset=20)
    _check(model, {"x": x}, rtol=1e-4, atol=1e-5)


def test_dft_axis_computed_by_the_graph_runs_eagerly():
    x = rng.standard_normal((2, 4, 6, 1)).astype(np.float32)
    axis = np.array(2, np.int64)
    model = _model("DFT", ["x", "", "axis"], {"x": x, "axis": axis}, opset=20)
    _check(model, {"x": x, "axis": axis}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("with_window", "onesided"), [(True, 1), (False, 0)])
def test_stft(with_window, onesided):
    signal = rng.standard_normal((2, 64, 1)).astype(np.float32)
    step = _constant("step", np.int64(8))
    if with_window:
        window = np.hanning(16).astype(np.float32)
        names, initializers = ["signal", "step", "window"], [step, _constant("window", window)]
    else:
        names, initializers = ["signal", "step", "", "length"], [step, _constant("length", np.int64(16))]
    model = _model("STFT", names, {"signal": signal}, {"onesided": onesided}, initializers, opset=17)
    _check(model, {"signal": signal}, rtol=1e-4, atol=1e-4)
