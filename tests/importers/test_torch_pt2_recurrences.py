"""An ONNX GRU/LSTM over a dynamic time axis keeps that axis dynamic in the .pt2 the torch importer writes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import toolkit
from toolkit.importers.torch import save

HIDDEN = 8


def _recurrence(op_type: str) -> onnx.ModelProto:
    """A bidirectional GRU (linear_before_reset=1, torch's gates) or LSTM over x[time, 2, 4]."""
    gates = 3 if op_type == "GRU" else 4
    rng = np.random.default_rng(0)
    weights = {
        "W": rng.standard_normal((2, gates * HIDDEN, 4)),
        "R": rng.standard_normal((2, gates * HIDDEN, HIDDEN)),
        "B": rng.standard_normal((2, 2 * gates * HIDDEN)),
    }
    initializers = [numpy_helper.from_array((0.3 * v).astype(np.float32), k) for k, v in weights.items()]
    attributes = {"linear_before_reset": 1} if op_type == "GRU" else {}
    node = helper.make_node(
        op_type, ["x", "W", "R", "B"], ["y"], hidden_size=HIDDEN, direction="bidirectional", **attributes
    )
    graph = helper.make_graph(
        [node],
        op_type.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", 2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["time", 2, 2, HIDDEN])],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("op_type", ["GRU", "LSTM"])
def test_recurrence_pt2_keeps_a_dynamic_time_axis(op_type, tmp_path):
    imported = toolkit.convert(_recurrence(op_type), to="torch")
    example = torch.from_numpy(np.random.default_rng(1).standard_normal((5, 2, 4)).astype(np.float32))
    # Twice: the second export in a process is the one whose time axis torch.export used to fix.
    for attempt in range(2):
        path = tmp_path / f"{op_type}{attempt}.pt2"
        save(imported, path, example_inputs=[example])
        program = torch.export.load(path).module()
        for time_steps in (3, 7):
            x = example.repeat(2, 1, 1)[:time_steps]
            with torch.no_grad():
                np.testing.assert_allclose(program(x).numpy(), imported(x).numpy(), rtol=1e-5, atol=1e-6)
