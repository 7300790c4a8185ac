"""Handlers of the torch operator table, each checked against onnx's reference evaluator."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from toolkit.errors import UnsupportedOperatorError
from toolkit.importers.torch import import_onnx

F32 = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset=21):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _single(op_type, feeds, attributes=None, initializers=(), opset=21, outputs=1, shapes=None):
    names = list(feeds)
    inputs = [
        helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(v.dtype), (shapes or {}).get(n, v.shape)
        )
        for n, v in feeds.items()
    ]
    outs = [helper.make_tensor_value_info(f"y{i}", TensorProto.UNDEFINED, None) for i in range(outputs)]
    node = helper.make_node(
        op_type,
        names + [i.name for i in initializers],
        [o.name for o in outs],
        name="node",
        **(attributes or {}),
    )
    return _model([node], inputs, outs, initializers, opset)


def _check(model, feeds, rtol=1e-5, atol=1e-6):
    expected = ReferenceEvaluator(model).run(None, feeds)
    module = import_onnx(model)
    result = module(*[torch.from_numpy(v) for v in feeds.values()])
    got = result if isinstance(result, tuple) else (result,)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have.detach().numpy(), want, rtol=rtol, atol=atol)
    return module


rng = np.random.default_rng(0)
x4 = rng.standard_normal((2, 8, 5, 6)).astype(np.float32)
CASES = [
    ("DepthToSpace", {"x": x4}, {"blocksize": 2}, (), 21),  # the spec default mode DCR
    ("DepthToSpace", {"x": x4}, {"blocksize": 2, "mode": "CRD"}, (), 21),
    ("Softmax", {"x": x4}, {"axis": 1}, (), 13),
    ("LeakyRelu", {"x": x4}, {}, (), 16),
    (
        "Conv",
        {"x": x4},
        {"pads": [0, 1, 2, 1], "strides": [2, 1]},
        (numpy_helper.from_array(rng.standard_normal((4, 8, 3, 3)).astype(np.float32), "w"),),
        17,
    ),
    (
        "Conv",
        {"x": x4},
        {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
        (numpy_helper.from_array(rng.standard_normal((4, 8, 2, 2)).astype(np.float32), "w"),),
        17,
    ),
    ("AveragePool", {"x": x4}, {"kernel_shape": [2, 3], "pads": [1, 1, 0, 0]}, (), 17),
    (
        "Slice",
        {"x": x4},
        {},
        (
            numpy_helper.from_array(np.array([4, -1]), "s"),
            numpy_helper.from_array(np.array([0, -100]), "e"),
            numpy_helper.from_array(np.array([1, 3]), "a"),
            numpy_helper.from_array(np.array([-2, -2]), "t"),
        ),
        17,
    ),
    ("Reshape", {"x": x4}, {}, (numpy_helper.from_array(np.array([0, -1, 6]), "shape"),), 17),
    (
        "Pad",
        {"x": x4},
        {"mode": "reflect"},
        (numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1]), "pads"),),
        18,
    ),
    ("ReduceMean", {"x": x4}, {"keepdims": 0}, (numpy_helper.from_array(np.array([1, -1]), "axes"),), 18),
    ("ReduceSum", {"x": x4}, {"axes": [1]}, (), 11),  # axes as an attribute before opset 13
    (
        "Resize",
        {"x": x4},
        {"mode": "cubic", "coordinate_transformation_mode": "half_pixel_symmetric"},
        (
            numpy_helper.from_array(np.array([], np.float32), "roi"),
            numpy_helper.from_array(np.array([1, 1, 1.7, 0.6], np.float32), "scales"),
        ),
        19,
    ),
    (
        "Resize",
        {"x": x4},
        {"mode": "linear", "antialias": 1},
        (
            numpy_helper.from_array(np.array([], np.float32), "roi"),
            numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], np.float32), "scales"),
        ),
        19,
    ),
    (
        "Resize",
        {"x": x4},
        {"mode": "nearest", "nearest_mode": "ceil", "coordinate_transformation_mode": "asymmetric"},
        (
            numpy_helper.from_array(np.array([], np.float32), "roi"),
            numpy_helper.from_array(np.array([1, 1, 2, 3], np.float32), "scales"),
        ),
        13,
    ),
]


@pytest.mark.parametrize(
    "op_type,feeds,attributes,initializers,opset", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_handler_matches_reference(op_type, feeds, attributes, initializers, opset):
    _check(_single(op_type, feeds, attributes, initializers, opset), feeds, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op_type,gates", [("LSTM", 4), ("GRU", 3), ("RNN", 1)])
def test_recurrences_all_directions_with_sequence_lengths(op_type, gates, direction):
    directions, hidden, size = (2 if direction == "bidirectional" else 1), 3, 4
    w = numpy_helper.from_array(
        rng.standard_normal((directions, gates * hidden, size)).astype(np.float32), "w"
    )
    r = numpy_helper.from_array(
        rng.standard_normal((directions, gates * hidden, hidden)).astype(np.float32), "r"
    )
    b = numpy_helper.from_array(rng.standard_normal((directions, 2 * gates * hidden)).astype(np.float32), "b")
    x = rng.standard_normal((5, 2, size)).astype(np.float32)
    lengths = np.array([5, 5], np.int32)  # onnx's reference evaluator ignores shorter lengths
    # A time dimension that varies runs on real tensors (a declared one unrolls, see below).
    inputs = [
        helper.make_tensor_value_info("x", F32, ["time", 2, size]),
        helper.make_tensor_value_info("lengths", TensorProto.INT32, [2]),
    ]
    outputs = [helper.make_tensor_value_info(n, F32, None) for n in ("y", "y_h")]
    node = helper.make_node(
        op_type, ["x", "w", "r", "b", "lengths"], ["y", "y_h"], hidden_size=hidden, direction=direction
    )
    model = _model([node], inputs, outputs, [w, r, b], opset=14)
    module = _check(model, {"x": x, "lengths": lengths}, rtol=1e-4, atol=1e-5)
    longer = rng.standard_normal((7, 2, size)).astype(np.float32)  # the time dimension may change
    y = module(torch.from_numpy(longer), torch.tensor([7, 2], dtype=torch.int32))[0]
    assert y.shape[0] == 7 and torch.all(y[2:, :, 1] == 0)  # past its length a sequence outputs zeros


def test_recurrence_of_declared_length_unrolls_into_plain_fx_and_checks_the_length():
    w = numpy_helper.from_array(rng.standard_normal((1, 12, 4)).astype(np.float32), "w")
    r = numpy_helper.from_array(rng.standard_normal((1, 12, 3)).astype(np.float32), "r")
    x = rng.standard_normal((5, 2, 4)).astype(np.float32)
    # A clip keeps the node off torch's fused kernels (tests/importers/test_torch_rnn.py).
    node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=3, clip=10.0)
    model = _model(
        [node],
        [helper.make_tensor_value_info("x", F32, [5, "batch", 4])],
        [helper.make_tensor_value_info("y", F32, None)],
        [w, r],
        opset=14,
    )
    module = _check(model, {"x": x}, rtol=1e-4, atol=1e-5)
    assert not [n for n in module.graph.nodes if n.op == "call_module"]
    with pytest.raises(Exception, match="sequence length must be 5"):
        module(torch.zeros(7, 2, 4))


def test_bidirectional_recurrence_of_declared_length_unrolls_into_plain_fx():
    w = numpy_helper.from_array(rng.standard_normal((2, 12, 4)).astype(np.float32), "w")
    r = numpy_helper.from_array(rng.standard_normal((2, 12, 3)).astype(np.float32), "r")
    node = helper.make_node(
        "LSTM", ["x", "w", "r"], ["y"], hidden_size=3, direction="bidirectional", clip=10.0
    )
    model = _model(
        [node],
        [helper.make_tensor_value_info("x", F32, [5, "batch", 4])],
        [helper.make_tensor_value_info("y", F32, None)],
        [w, r],
        opset=14,
    )
    for batch in (2, 3):
        x = rng.standard_normal((5, batch, 4)).astype(np.float32)
        module = _check(model, {"x": x}, rtol=1e-4, atol=1e-5)
    assert not [n for n in module.graph.nodes if n.op == "call_module"]


def test_tf2onnx_shape_chains_stay_sizes_through_int32_reductions_and_max():
    """tf2onnx's Flatten and einsum shapes: Shape → Gather(indices) → Cast(int32) → Slice, and
    ReduceProd / Max of sizes, → Concat → Cast(int64) → Reshape: plain torch calls on sizes."""
    i64 = lambda name, values: numpy_helper.from_array(np.array(values, np.int64), name)  # noqa: E731
    initializers = [
        i64("perm", [0, 2, 1]),
        i64("zero", [0]),
        i64("one", [1]),
        i64("lead", [0, 1]),
        numpy_helper.from_array(np.array([-1], np.int32), "minus_one"),
    ]
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "perm"], ["permuted"]),
        helper.make_node("Cast", ["permuted"], ["s32"], to=TensorProto.INT32),
        helper.make_node("Slice", ["s32", "zero", "one", "zero"], ["batch32"]),
        helper.make_node("Concat", ["batch32", "minus_one"], ["flat32"], axis=0),
        helper.make_node("Cast", ["flat32"], ["flat"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["x", "flat"], ["y"], name="flatten"),
        helper.make_node("Gather", ["s", "lead"], ["leading"]),
        helper.make_node("ReduceProd", ["leading"], ["rows"], keepdims=1),
        helper.make_node("Max", ["rows", "one"], ["rows_at_least_one"]),
        helper.make_node("Gather", ["s", "one"], ["last_but_one"]),  # a size that is constant
        helper.make_node("Concat", ["rows_at_least_one", "last_but_one"], ["merged"], axis=0),
        helper.make_node("Slice", ["merged", "zero", "one", "zero"], ["merged_rows"]),
        helper.make_node("Concat", ["merged_rows", "minus_one_64"], ["merged_shape"], axis=0),
        helper.make_node("Reshape", ["x", "merged_shape"], ["z"], name="merge"),
    ]
    initializers.append(i64("minus_one_64", [-1]))
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", F32, ["batch", 3, 4])],
        [helper.make_tensor_value_info(n, F32, None) for n in ("y", "z")],
        initializers,
    )
    for batch in (2, 5):
        module = _check(model, {"x": rng.standard_normal((batch, 3, 4)).astype(np.float32)})
    assert not [n for n in module.graph.nodes if "at_run_time" in str(n.target)]
    program = torch.export.export(
        module, (torch.zeros(2, 3, 4),), dynamic_shapes=({0: torch.export.Dim.AUTO},)
    )
    assert program.module()(torch.zeros(7, 3, 4))[1].shape == (21, 4)


def test_float_initializers_are_trainable_parameters_named_after_onnx():
    w = numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "dense.weight")
    shape = numpy_helper.from_array(np.array([-1, 4]), "shape")
    nodes = [
        helper.make_node("MatMul", ["x", "dense.weight"], ["h"], name="dense/MatMul"),
        helper.make_node("Reshape", ["h", "shape"], ["y"], name="flatten"),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", F32, ["batch", 3])],
        [helper.make_tensor_value_info("y", F32, None)],
        [w, shape],
    )
    module = import_onnx(model)
    assert isinstance(module, torch.fx.GraphModule)
    assert [name for name, _ in module.named_parameters()] == ["dense_weight"]
    assert {node.meta.get("onnx_node") for node in module.graph.nodes} >= {"dense/MatMul", "flatten"}
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
    x = torch.randn(5, 3)
    before = module(x).pow(2).sum()
    before.backward()
    optimizer.step()
    assert module(x).pow(2).sum().item() < before.item()
    assert module(torch.randn(9, 3)).shape == (9, 4)  # batch varies between calls


def test_dynamic_shape_chain_and_eager_if():
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0, name="sum"),
        helper.make_node("Greater", ["total", "zero"], ["positive"], name="greater"),
        helper.make_node(
            "If",
            ["positive"],
            ["y"],
            name="branch",
            then_branch=helper.make_graph(
                [helper.make_node("Reshape", ["x", "s"], ["t"])],
                "then",
                [],
                [helper.make_tensor_value_info("t", F32, None)],
            ),
            else_branch=helper.make_graph(
                [helper.make_node("Neg", ["x"], ["e"])],
                "else",
                [],
                [helper.make_tensor_value_info("e", F32, None)],
            ),
        ),
    ]
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", F32, ["n", 2])],
        [helper.make_tensor_value_info("y", F32, None)],
        [zero],
    )
    for rows in (1, 4):
        x = rng.standard_normal((rows, 2)).astype(np.float32)
        _check(model, {"x": x})
        _check(model, {"x": -np.abs(x)})


def test_loop_and_scan_run_on_real_tensors():
    body = helper.make_graph(
        [
            helper.make_node("Add", ["v", "x"], ["v_out"]),
            helper.make_node("Identity", ["cond"], ["cond_out"]),
            helper.make_node("Identity", ["v_out"], ["scan_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", F32, [2]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", F32, [2]),
            helper.make_tensor_value_info("scan_out", F32, [2]),
        ],
    )
    node = helper.make_node("Loop", ["trips", "c", "v0"], ["v_final", "scans"], body=body, name="loop")
    inputs = [
        helper.make_tensor_value_info(n, t, s)
        for n, t, s in (
            ("trips", TensorProto.INT64, []),
            ("c", TensorProto.BOOL, []),
            ("v0", F32, [2]),
            ("x", F32, [2]),
        )
    ]
    model = _model(
        [node], inputs, [helper.make_tensor_value_info(n, F32, None) for n in ("v_final", "scans")]
    )
    feeds = {
        "trips": np.array(3, np.int64),
        "c": np.array(True),
        "v0": np.ones(2, np.float32),
        "x": np.full(2, 0.5, np.float32),
    }
    _check(model, feeds)


def test_unsupported_nodes_are_listed_at_once_before_work():
    nodes = [
        helper.make_node("Sin", ["x"], ["a"], name="ok"),
        helper.make_node("RandomUniformLike", ["a"], ["b"], name="random"),
        helper.make_node("Fused", ["b"], ["y"], name="custom", domain="com.example"),
    ]
    model = _model(
        nodes, [helper.make_tensor_value_info("x", F32, [2])], [helper.make_tensor_value_info("y", F32, None)]
    )
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(UnsupportedOperatorError) as raised:
        import_onnx(model)
    assert len(raised.value.unsupported) == 2
    assert "random (RandomUniformLike" in str(raised.value) and "custom (com.example::Fused" in str(
        raised.value
    )


def test_average_pool_dilations_are_computed():
    # torch's avg_pool has no dilations: the importer sums the window with a depthwise convolution.
    attributes = {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 0, 1, 1], "ceil_mode": 1}
    _check(_single("AveragePool", {"x": x4}, attributes, (), 19), {"x": x4})


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("op_type", ["Add", "Sub", "Div", "Mod", "Max", "Min", "Greater", "LessOrEqual"])
def test_wide_unsigned_integers_compute_as_int64(op_type, dtype):
    top = np.iinfo(dtype).max
    a = np.array([top, top - 7, 5, 2**15], dtype)  # uint64 values past 2**63 keep their order
    b = np.array([3, top, 2, 7], dtype)
    _check(_single(op_type, {"a": a, "b": b}, opset=18), {"a": a, "b": b})


def test_uint64_right_shift_is_logical():
    x, y = np.array([2**64 - 1, 2**63, 8], np.uint64), np.array([1, 63, 0], np.uint64)
    _check(_single("BitShift", {"x": x, "y": y}, {"direction": "RIGHT"}, opset=18), {"x": x, "y": y})


def test_cast_to_int4_wraps_like_ml_dtypes():
    x = np.array([-9.6, 7.5, 8.5, 2.5, 100.0, -3.0], np.float32)
    module = import_onnx(_single("Cast", {"x": x}, {"to": TensorProto.INT4}))
    assert module(torch.from_numpy(x)).tolist() == [7, 7, -8, 2, 4, -3]  # values of int4, held in int8


def test_top_k_keeps_the_lower_index_first_among_equal_values():
    x = np.array([[1, 3, 3, 2, 3]], np.float32)
    k = numpy_helper.from_array(np.array([2]), "k")
    _check(_single("TopK", {"x": x}, {}, (k,), opset=11, outputs=2), {"x": x})


def test_gradient_runs_the_graph_slice_under_autograd():
    nodes = [
        helper.make_node("Add", ["a", "b"], ["c"]),
        helper.make_node("Mul", ["c", "a"], ["d"]),
        helper.make_node(
            "Gradient", ["a", "b"], ["da", "db"], domain="ai.onnx.preview.training", xs=["a", "b"], y="d"
        ),
    ]
    values = [helper.make_tensor_value_info(n, F32, [3]) for n in ("a", "b")]
    outputs = [helper.make_tensor_value_info(n, F32, [3]) for n in ("d", "da", "db")]
    model = _model(nodes, values, outputs, opset=12)
    model.opset_import.append(helper.make_opsetid("ai.onnx.preview.training", 1))
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -1.0, 2.0])
    with torch.no_grad():  # the node enables gradients itself
        d, da, db = import_onnx(model)(a, b)
    torch.testing.assert_close(da, 2 * a + b)
    torch.testing.assert_close(db, a)


def test_split_and_tile_with_sizes_known_at_run_time_stay_traced_and_export(tmp_path):
    """GPT-2's qkv Split (num_outputs over a varying axis), a Split whose sizes come from Shape,
    and DeBERTa's Tile by the batch: plain fx calls on sizes, so .pt2 keeps the axes dynamic and .py exists."""
    import importlib.util

    from toolkit.importers.torch.export import save

    i64 = lambda name, values: numpy_helper.from_array(np.array(values, np.int64), name)  # noqa: E731
    nodes = [
        helper.make_node("Split", ["x"], ["half0", "half1"], axis=1, num_outputs=2),
        helper.make_node("Shape", ["x"], ["length"], start=1, end=2),
        helper.make_node("Sub", ["length", "one"], ["head"]),
        helper.make_node("Concat", ["head", "one"], ["sizes"], axis=0),
        helper.make_node("Split", ["x", "sizes"], ["body", "last"], axis=1),
        helper.make_node("Shape", ["x"], ["batch"], start=0, end=1),
        helper.make_node("Concat", ["batch", "one", "one"], ["repeats"], axis=0),
        helper.make_node("Tile", ["table", "repeats"], ["tiled"]),
    ]
    outputs = ["half0", "half1", "body", "last", "tiled"]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", F32, ["batch", "sequence", 2])],
        [helper.make_tensor_value_info(n, F32, None) for n in outputs],
        [
            i64("one", [1]),
            numpy_helper.from_array(rng.standard_normal((1, 2, 2)).astype(np.float32), "table"),
        ],
        opset=18,
    )
    for shape in ((2, 4, 2), (3, 6, 2)):
        module = _check(model, {"x": rng.standard_normal(shape).astype(np.float32)})
    assert not [n for n in module.graph.nodes if n.op == "call_module"]
    save(module, tmp_path / "model.py")
    save(module, tmp_path / "model.pt2", example_inputs=[torch.zeros(3, 6, 2)])
    spec = importlib.util.spec_from_file_location("generated_split_tile", tmp_path / "model.py")
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    program = torch.export.load(tmp_path / "model.pt2").module()
    x = torch.from_numpy(rng.standard_normal((5, 8, 2)).astype(np.float32))
    expected = module(x)
    for reloaded in (generated.OnnxModule(), program):
        for want, have in zip(expected, reloaded(x), strict=True):
            torch.testing.assert_close(have, want)
    assert (
        expected[0].shape == (5, 4, 2) and expected[3].shape == (5, 1, 2) and expected[4].shape == (5, 2, 2)
    )


def test_range_with_a_step_known_at_run_time_stays_traced_and_exports(tmp_path):
    """EmbeddingBag's offsets of 2-D input, arange(0, batch * length, length): the step is a size too,
    and the count simplifies to the batch, so the .pt2 keeps both axes dynamic down to batch 1."""
    from toolkit.importers.torch.export import save

    nodes = [
        helper.make_node("Shape", ["ids"], ["batch"], start=0, end=1),
        helper.make_node("Shape", ["ids"], ["length"], start=1, end=2),
        helper.make_node("Squeeze", ["batch"], ["batch_size"]),
        helper.make_node("Squeeze", ["length"], ["step"]),
        helper.make_node("Mul", ["batch_size", "step"], ["limit"]),
        helper.make_node("Range", ["start", "limit", "step"], ["offsets"]),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("offsets", TensorProto.INT64, None)],
        [numpy_helper.from_array(np.array(0, np.int64), "start")],
        opset=18,
    )
    module = _check(model, {"ids": np.zeros((3, 5), np.int64)})
    assert not [n for n in module.graph.nodes if n.op == "call_module"]
    save(module, tmp_path / "model.pt2")
    program = torch.export.load(tmp_path / "model.pt2").module()
    for batch, length in ((1, 7), (4, 2)):
        torch.testing.assert_close(
            program(torch.zeros(batch, length, dtype=torch.int64)), torch.arange(batch) * length
        )


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_nd_of_a_varying_number_of_rows_stays_traced_and_exports(reduction, tmp_path):
    """EmbeddingBag's fold of its rows into bags: ScatterND with indices (rows, 1), rows varying."""
    from toolkit.importers.torch.export import save

    node = helper.make_node("ScatterND", ["table", "where", "rows"], ["y"], reduction=reduction)
    model = _model(
        [node],
        [
            helper.make_tensor_value_info("table", F32, ["bags", 3]),
            helper.make_tensor_value_info("where", TensorProto.INT64, ["count", 1]),
            helper.make_tensor_value_info("rows", F32, ["count", 3]),
        ],
        [helper.make_tensor_value_info("y", F32, None)],
        opset=18,
    )

    def feeds(bags, count):
        return {
            "table": rng.standard_normal((bags, 3)).astype(np.float32),
            "where": rng.integers(-bags, bags, (count, 1)),
            "rows": rng.standard_normal((count, 3)).astype(np.float32),
        }

    module = _check(model, feeds(4, 6))
    assert not [n for n in module.graph.nodes if n.op == "call_module"]
    save(module, tmp_path / "model.pt2")
    program = torch.export.load(tmp_path / "model.pt2").module()
    for bags, count in ((3, 9), (5, 2)):
        values = feeds(bags, count)
        (expected,) = ReferenceEvaluator(model).run(None, values)
        torch.testing.assert_close(program(*(torch.from_numpy(v) for v in values.values())).numpy(), expected)


def _counting_loop(trip_count: int, limit: int):
    """tf2onnx's while loop of a Keras RNN: a constant trip count, a condition the body computes
    (i + 1 < limit), a carried state (batch, 3) and one scan output per iteration."""
    body = helper.make_graph(
        [
            helper.make_node("Add", ["i", "one"], ["next"]),
            helper.make_node("Less", ["next", "limit"], ["keep_going"]),
            helper.make_node("Gather", ["xs", "i"], ["x_i"], axis=1),
            helper.make_node("Add", ["h", "x_i"], ["h_next"]),
            helper.make_node("Tanh", ["h_next"], ["y"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h", F32, ["batch", 3]),
        ],
        [
            helper.make_tensor_value_info("keep_going", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_next", F32, ["batch", 3]),
            helper.make_tensor_value_info("y", F32, ["batch", 3]),
        ],
        initializer=[numpy_helper.from_array(np.array(1, np.int64), "one")],
    )
    initializers = [
        numpy_helper.from_array(np.array(trip_count, np.int64), "trip_count"),
        numpy_helper.from_array(np.array(limit, np.int64), "limit"),
        numpy_helper.from_array(np.array(True), "start"),
    ]
    node = helper.make_node(
        "Loop", ["trip_count", "start", "h0"], ["h_final", "ys"], body=body, name="while_loop"
    )
    return _model(
        [helper.make_node("Identity", ["h"], ["h0"]), node],
        [
            helper.make_tensor_value_info("h", F32, ["batch", 3]),
            helper.make_tensor_value_info("xs", F32, ["batch", 4, 3]),
        ],
        [helper.make_tensor_value_info("h_final", F32, None), helper.make_tensor_value_info("ys", F32, None)],
        initializers,
        opset=17,
    )


def test_loop_of_a_constant_trip_count_unrolls_into_plain_fx_and_exports(tmp_path):
    import importlib.util

    import onnxruntime

    from toolkit.importers.torch.export import save

    model = _counting_loop(trip_count=4, limit=10)
    # onnx's reference evaluator concatenates Loop scan outputs instead of stacking them: onnxruntime.
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    module = import_onnx(model)
    for batch in (2, 3):
        feeds = {
            "h": rng.standard_normal((batch, 3)).astype(np.float32),
            "xs": rng.standard_normal((batch, 4, 3)).astype(np.float32),
        }
        got = module(*(torch.from_numpy(v) for v in feeds.values()))
        for want, have in zip(session.run(None, feeds), got, strict=True):
            np.testing.assert_allclose(have.numpy(), want, rtol=1e-5, atol=1e-6)
    assert not [n for n in module.graph.nodes if n.op == "call_module"]
    save(module, tmp_path / "loop.py")
    save(module, tmp_path / "loop.pt2", example_inputs=[torch.zeros(3, 3), torch.zeros(3, 4, 3)])
    spec = importlib.util.spec_from_file_location("generated_loop", tmp_path / "loop.py")
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    inputs = (torch.randn(5, 3), torch.randn(5, 4, 3))
    expected = module(*inputs)
    for reloaded in (generated.OnnxModule(), torch.export.load(tmp_path / "loop.pt2").module()):
        for want, have in zip(expected, reloaded(*inputs), strict=True):
            torch.testing.assert_close(have, want)


def test_unrolled_loop_whose_condition_stops_it_early_fails_loudly():
    """ONNX stops after 2 iterations (1 + 1 < 3 fails); the unrolled form runs all 4, so it must refuse."""
    module = import_onnx(_counting_loop(trip_count=4, limit=3))
    with pytest.raises(RuntimeError, match="condition turned false before the trip count 4"):
        module(torch.zeros(2, 3), torch.zeros(2, 4, 3))
