"""RNN/GRU/LSTM activations with alpha/beta: both importers against the same oracles.

onnx's ReferenceEvaluator runs only Tanh and Affine in RNN and ignores `activations` in GRU and
LSTM, so onnxruntime (which consumes activation_alpha/activation_beta as the spec says) is the
oracle for the rest; the reference evaluator checks the one RNN case it runs (forward Affine).
"""

import os

import numpy as np
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from toolkit.errors import UnsupportedOperatorError  # noqa: E402
from toolkit.importers import tensorflow as tf_importer  # noqa: E402
from toolkit.importers import torch as torch_importer  # noqa: E402
from toolkit.importers.semantics import rnn as semantics  # noqa: E402

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
HIDDEN, SIZE, BATCH, STEPS = 4, 3, 2, 5


def _model(op_type, direction="forward", **attributes):
    rng = np.random.default_rng(7)
    directions, gates = (2 if direction == "bidirectional" else 1), GATES[op_type]
    initializers = [
        numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.5, name)
        for name, shape in (
            ("W", (directions, gates * HIDDEN, SIZE)),
            ("R", (directions, gates * HIDDEN, HIDDEN)),
            ("B", (directions, 2 * gates * HIDDEN)),
        )
    ]
    node = helper.make_node(
        op_type, ["x", "W", "R", "B"], ["y"], hidden_size=HIDDEN, direction=direction, **attributes
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [STEPS, BATCH, SIZE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def _both_importers(model, x):
    got_torch = torch_importer.import_onnx(model)(torch.from_numpy(x))
    got_tf = tf_importer.import_onnx(model)(x)
    return [np.asarray(got_torch.detach().numpy()), np.asarray(got_tf)]


CASES = [  # differing alpha/beta needs, so a shared index and separate ones give different results
    ("GRU", "forward", ["LeakyRelu", "ScaledTanh"], [0.3, 0.7], [1.5]),
    ("GRU", "forward", ["HardSigmoid", "Affine"], [0.25, 0.8], [0.4, 0.1]),
    ("GRU", "forward", ["LeakyRelu", "Tanh"], None, None),  # spec default alpha 0.01
    ("LSTM", "forward", ["LeakyRelu", "ScaledTanh", "Tanh"], [0.2, 0.9], [1.3]),
    ("LSTM", "forward", ["Sigmoid", "Elu", "ScaledTanh"], [0.6, 0.8], [1.2]),
    ("LSTM", "forward", ["HardSigmoid", "Tanh", "Elu"], None, None),  # defaults 0.2/0.5 and 1.0
    ("RNN", "bidirectional", ["LeakyRelu", "ScaledTanh"], [0.1, 0.5], [2.0]),
    ("RNN", "bidirectional", ["Tanh", "Affine"], [0.5], [0.25]),
]


@pytest.mark.parametrize(
    "op_type,direction,activations,alphas,betas", CASES, ids=[f"{c[0]}-{'-'.join(c[2])}" for c in CASES]
)
def test_activation_parameters_match_onnxruntime(op_type, direction, activations, alphas, betas):
    attributes = {"activations": activations}
    if alphas is not None:
        attributes["activation_alpha"] = alphas
    if betas is not None:
        attributes["activation_beta"] = betas
    model = _model(op_type, direction, **attributes)
    x = np.random.default_rng(3).standard_normal((STEPS, BATCH, SIZE)).astype(np.float32)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"x": x})
    for got in _both_importers(model, x):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_affine_rnn_matches_the_reference_evaluator():
    # The reference evaluator's RNN runs Tanh and Affine, one alpha/beta per direction, forward well.
    model = _model("RNN", activations=["Affine"], activation_alpha=[0.5], activation_beta=[0.1])
    x = np.random.default_rng(4).standard_normal((STEPS, BATCH, SIZE)).astype(np.float32)
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    for got in _both_importers(model, x):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_parameters_are_consumed_by_the_activations_that_take_them():
    plan = semantics.activations("LSTM", ["LeakyRelu", "ScaledTanh", "HardSigmoid"], [1, 2, 3], [4], 1)
    assert plan == [[("leakyrelu", 1.0, 0.0), ("scaledtanh", 2.0, 4.0), ("hardsigmoid", 3.0, 0.5)]]


@pytest.mark.parametrize("importer", [torch_importer, tf_importer], ids=["torch", "tensorflow"])
def test_unknown_activation_is_rejected_before_any_work(importer):
    model = _model("GRU", activations=["Sigmoid", "Swish"])
    with pytest.raises(UnsupportedOperatorError, match="Swish"):
        importer.import_onnx(model)
