"""LSTM and GRU weights are stored in torch's gate order, not reordered on every call: same outputs
as the unfolded import, and the parameter map reads, writes and trains them in the ONNX layout."""

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

import toolkit
from toolkit.importers import core
from toolkit.importers.torch import import_onnx
from toolkit.importers.torch.builder import build
from toolkit.importers.torch.ops import table


class Recurrent(torch.nn.Module):
    def __init__(self, kind: str, bidirectional: bool):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(4, 6, batch_first=True, bidirectional=bidirectional)

    def forward(self, x):
        return self.rnn(x)[0]


def _exported(kind, bidirectional):
    torch.manual_seed(2)
    native = Recurrent(kind, bidirectional).eval()
    x = torch.randn(3, 7, 4)
    return native, toolkit.convert(native, to="onnx", example_inputs=(x,), trainable=False), x


def _selects(module):
    return module.graph.find_nodes(op="call_method", target="index_select")


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
def test_gate_order_is_stored_and_outputs_match(kind, bidirectional):
    native, onnx_model, x = _exported(kind, bidirectional)
    unfolded = build(core.prepare(onnx_model, table))
    folded = import_onnx(onnx_model)
    assert _selects(unfolded) and not _selects(folded)
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), native(x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(folded(x).numpy(), unfolded(x).numpy(), rtol=1e-6, atol=1e-7)


def test_parameter_map_reads_writes_and_trains_the_onnx_layout():
    _, onnx_model, x = _exported("LSTM", False)
    initializers = {i.name: numpy_helper.to_array(i) for i in onnx_model.graph.initializer}
    folded = import_onnx(onnx_model)
    unfolded = build(core.prepare(onnx_model, table))
    mapping = toolkit.parameter_map(folded)
    reordered = [name for name, entry in mapping.items() if entry.rows]
    assert len(reordered) == 3  # W, R and B
    for name in reordered:
        np.testing.assert_array_equal(mapping[name].read(), initializers[name])
    # Gradients, brought back to the ONNX layout, are the unfolded import's.
    folded(x).square().sum().backward()
    unfolded(x).square().sum().backward()
    unfolded_parameters = dict(unfolded.named_parameters())
    for name in reordered:
        entry = mapping[name]
        np.testing.assert_allclose(
            entry.to_source(entry.value.grad.numpy()),
            unfolded_parameters[unfolded.onnx_initializer_attributes[name]].grad.numpy(),
            rtol=1e-5,
            atol=1e-7,
        )
    # A weight written in the ONNX layout computes what the ONNX model with that weight computes.
    name = reordered[0]
    changed = np.random.default_rng(4).standard_normal(initializers[name].shape).astype(np.float32)
    mapping[name].assign(changed)
    np.testing.assert_array_equal(mapping[name].read(), changed)
    edited = onnx.ModelProto()
    edited.CopyFrom(onnx_model)
    for initializer in edited.graph.initializer:
        if initializer.name == name:
            initializer.CopyFrom(numpy_helper.from_array(changed, name))
    (want,) = ReferenceEvaluator(edited).run(None, {edited.graph.input[0].name: x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), want, rtol=1e-4, atol=1e-5)
