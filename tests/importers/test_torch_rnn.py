"""RNN, GRU and LSTM on torch's fused kernels (ops/rnn_fused.py), against onnxruntime."""

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import toolkit
from toolkit.importers.torch import import_onnx, save

F32 = TensorProto.FLOAT
FUSED = (torch.lstm, torch.gru, torch.rnn_tanh, torch.rnn_relu)
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
HIDDEN, SIZE, BATCH, STEPS = 5, 4, 3, 6


def _recurrence(op_type, direction="forward", layout=0, sequence_lens=None, outputs=None, **attributes):
    """One recurrence node with W/R/B initializers and initial states as graph inputs."""
    rng = np.random.default_rng(len(op_type))
    directions, gates = (2 if direction == "bidirectional" else 1), GATES[op_type]
    initializers = [
        numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.5, name)
        for name, shape in (
            ("W", (directions, gates * HIDDEN, SIZE)),
            ("R", (directions, gates * HIDDEN, HIDDEN)),
            ("B", (directions, 2 * gates * HIDDEN)),
        )
    ]
    time, batch = ("time", "batch") if not layout else ("batch", "time")
    state = [directions, "batch", HIDDEN] if not layout else ["batch", directions, HIDDEN]
    inputs = [helper.make_tensor_value_info("x", F32, [time, batch, SIZE])]
    inputs += [helper.make_tensor_value_info("h0", F32, state)]
    node_inputs = ["x", "W", "R", "B", "", "h0"]
    if op_type == "LSTM":
        inputs.append(helper.make_tensor_value_info("c0", F32, state))
        node_inputs.append("c0")
    if sequence_lens is not None:
        initializers.append(numpy_helper.from_array(np.asarray(sequence_lens, np.int32), "lengths"))
        node_inputs[4] = "lengths"
    if outputs is None:
        outputs = ["y", "y_h", "y_c"] if op_type == "LSTM" else ["y", "y_h"]
    node = helper.make_node(
        op_type,
        node_inputs,
        outputs,
        hidden_size=HIDDEN,
        direction=direction,
        layout=layout,
        **attributes,
    )
    graph_outputs = [helper.make_tensor_value_info(name, F32, None) for name in outputs if name]
    graph = helper.make_graph([node], "g", inputs, graph_outputs, initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def _feeds(model, steps=STEPS, batch=BATCH):
    rng = np.random.default_rng(steps)
    feeds = {}
    for value in model.graph.input:
        shape = [
            d.dim_value or {"time": steps, "batch": batch}[d.dim_param]
            for d in value.type.tensor_type.shape.dim
        ]
        feeds[value.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def _onnxruntime(model, feeds):
    """onnxruntime's outputs; it runs layout 0 only, so a layout 1 node runs as its layout 0 twin."""
    (node,) = model.graph.node
    layout = next((a for a in node.attribute if a.name == "layout"), None)
    if layout is not None and layout.i == 1:
        twin = onnx.ModelProto()
        twin.CopyFrom(model)
        next(a for a in twin.graph.node[0].attribute if a.name == "layout").i = 0
        for value in twin.graph.input:  # [batch, time | directions, ...] -> [time | directions, batch, ...]
            value.type.tensor_type.ClearField("shape")
        outputs = _onnxruntime(twin, {name: v.transpose(1, 0, 2) for name, v in feeds.items()})
        return [y.transpose(2, 0, 1, 3) if y.ndim == 4 else y.transpose(1, 0, 2) for y in outputs]
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _check_against_onnxruntime(model, module, feeds):
    expected = _onnxruntime(model, feeds)
    got = module(*[torch.from_numpy(v) for v in feeds.values()])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        assert tuple(have.shape) == want.shape
        np.testing.assert_allclose(have.detach().numpy(), want, rtol=1e-5, atol=1e-5)


def _fused_calls(module):
    return [n.target for n in module.graph.nodes if n.op == "call_function" and n.target in FUSED]


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize(
    "op_type,attributes,kernel",
    [
        ("RNN", {}, torch.rnn_tanh),
        ("RNN", {"activations": ["Relu"]}, torch.rnn_relu),
        ("GRU", {"linear_before_reset": 1}, torch.gru),
        ("LSTM", {}, torch.lstm),
    ],
    ids=["RNN-tanh", "RNN-relu", "GRU", "LSTM"],
)
def test_fused_recurrence_matches_onnxruntime(op_type, attributes, kernel, direction, layout):
    if "activations" in attributes and direction == "bidirectional":
        attributes = {"activations": attributes["activations"] * 2}
    model = _recurrence(op_type, direction, layout, **attributes)
    module = import_onnx(model)
    assert _fused_calls(module) == [kernel]
    assert not [n for n in module.graph.nodes if n.op == "call_module"]
    for steps, batch in ((STEPS, BATCH), (2, 1)):  # the time dimension and the batch may vary
        _check_against_onnxruntime(model, module, _feeds(model, steps, batch))


@pytest.mark.parametrize("op_type", ["RNN", "GRU", "LSTM"])
def test_fused_recurrence_computes_only_the_outputs_used(op_type):
    outputs = ["", "y_h", "y_c"] if op_type == "LSTM" else ["", "y_h"]
    attributes = {"linear_before_reset": 1} if op_type == "GRU" else {}
    model = _recurrence(op_type, "bidirectional", outputs=outputs, **attributes)
    module = import_onnx(model)
    assert _fused_calls(module)
    assert not [n for n in module.graph.nodes if n.target in ("unflatten", "transpose")]
    _check_against_onnxruntime(model, module, _feeds(model))


def test_constant_full_sequence_lengths_and_zero_peepholes_stay_fused():
    model = _recurrence("LSTM", "bidirectional", sequence_lens=[STEPS] * BATCH)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = STEPS  # the lengths are checkable
    p = numpy_helper.from_array(np.zeros((2, 3 * HIDDEN), np.float32), "P")
    model.graph.initializer.append(p)
    model.graph.node[0].input.append("P")
    module = import_onnx(model)
    assert _fused_calls(module) == [torch.lstm]
    _check_against_onnxruntime(model, module, _feeds(model))


@pytest.mark.parametrize(
    "op_type,attributes,sequence_lens",
    [
        ("LSTM", {"clip": 0.5}, None),
        ("GRU", {"linear_before_reset": 0}, None),
        ("RNN", {"activations": ["Tanh", "Relu"]}, None),  # torch has one nonlinearity for both
        ("LSTM", {"input_forget": 1}, None),
        ("GRU", {"linear_before_reset": 1}, [STEPS, 2, STEPS]),
    ],
    ids=["clip", "linear_before_reset-0", "mixed-activations", "input_forget", "sequence_lens"],
)
def test_other_semantics_are_unrolled(op_type, attributes, sequence_lens):
    model = _recurrence(op_type, "bidirectional", sequence_lens=sequence_lens, **attributes)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = STEPS  # unrolls into plain fx
    module = import_onnx(model)
    assert not _fused_calls(module)
    _check_against_onnxruntime(model, module, _feeds(model))


def test_fused_recurrence_trains_the_onnx_parameters():
    model = _recurrence("LSTM", "bidirectional")
    # A clip no value reaches computes the same, but unrolled: a reference for the gradients.
    reference = _recurrence("LSTM", "bidirectional", clip=1e6)
    reference.graph.input[0].type.tensor_type.shape.dim[0].dim_value = STEPS
    module, unrolled = import_onnx(model), import_onnx(reference)
    assert _fused_calls(module) and not _fused_calls(unrolled)
    inputs = [torch.from_numpy(v) for v in _feeds(model).values()]

    def loss_of(m):
        y, y_h, y_c = m(*inputs)
        return (y**2).mean() + y_h.sum() + y_c.sum()

    loss = loss_of(module)
    loss.backward()
    loss_of(unrolled).backward()
    parameters, reference_parameters = dict(module.named_parameters()), dict(unrolled.named_parameters())
    assert set(parameters) == {"W", "R", "B"}
    # The fused module stores W, R and B in torch's gate order (fold_recurrent.py): the parameter
    # map gives their gradients in the ONNX layout.
    mapping = toolkit.parameter_map(module)
    for name, parameter in parameters.items():
        gradient = torch.from_numpy(mapping[name].to_source(parameter.grad.numpy()))
        torch.testing.assert_close(gradient, reference_parameters[name].grad, rtol=1e-4, atol=1e-5)
    before = {name: p.detach().clone() for name, p in parameters.items()}
    torch.optim.SGD(module.parameters(), lr=0.1).step()
    for name, parameter in parameters.items():
        assert not torch.equal(parameter, before[name]), name
    assert loss_of(module).item() != loss.item()


@pytest.mark.parametrize("op_type", ["GRU", "LSTM"])
def test_fused_recurrence_exports_and_writes_python(op_type, tmp_path):
    attributes = {"linear_before_reset": 1} if op_type == "GRU" else {}
    model = _recurrence(op_type, "bidirectional", layout=1, **attributes)
    module = import_onnx(model)
    inputs = [torch.from_numpy(v) for v in _feeds(model).values()]
    expected = module(*inputs)
    program = torch.export.export(module, tuple(inputs))
    for want, have in zip(expected, program.module()(*inputs), strict=True):
        torch.testing.assert_close(have, want)
    assert f"torch.{op_type.lower()}(" in module.code
    save(module, tmp_path / "model.py")
