"""Small valid ONNX models (fixed seeds) and the malformed variants the fuzzer and the probe feed to the CLI.

Every builder returns a model that passes `onnx.checker.check_model(full_check=True)`; every mutation
returns a copy broken in one way a real file gets broken (a flipped byte, a deleted input, ...).
"""

from __future__ import annotations

import random

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _model(nodes, inputs, outputs, initializers, name, opset=OPSET) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="fuzz")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def cnn(seed: int = 0) -> onnx.ModelProto:
    """Conv → Relu → MaxPool → Flatten → Gemm, on a 1x3x8x8 image with a dynamic batch."""
    rng = np.random.default_rng(seed)
    weights = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv.weight"),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "conv.bias"),
        numpy_helper.from_array(rng.standard_normal((5, 64)).astype(np.float32), "fc.weight"),
        numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "fc.bias"),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["image", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
        weights,
        "cnn",
    )


def mlp(seed: int = 1) -> onnx.ModelProto:
    """MatMul → Add → Tanh → MatMul → Softmax on (batch, 6), with a Reshape whose shape is an initializer."""
    rng = np.random.default_rng(seed)
    weights = [
        numpy_helper.from_array(rng.standard_normal((6, 8)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((8, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.array([-1, 3], dtype=np.int64), "shape"),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "w1"], ["m1"], name="matmul_1"),
        helper.make_node("Add", ["m1", "b1"], ["a1"], name="add_1"),
        helper.make_node("Tanh", ["a1"], ["t1"], name="tanh"),
        helper.make_node("MatMul", ["t1", "w2"], ["m2"], name="matmul_2"),
        helper.make_node("Reshape", ["m2", "shape"], ["r2"], name="reshape"),
        helper.make_node("Softmax", ["r2"], ["probabilities"], name="softmax", axis=-1),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 6])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        weights,
        "mlp",
    )


def two_inputs(seed: int = 2) -> onnx.ModelProto:
    """Two inputs, a Concat, a Transpose and two outputs."""
    rng = np.random.default_rng(seed)
    scale = numpy_helper.from_array(rng.standard_normal((1, 4)).astype(np.float32), "scale")
    nodes = [
        helper.make_node("Concat", ["left", "right"], ["joined"], name="concat", axis=1),
        helper.make_node("Mul", ["joined", "scale"], ["scaled"], name="mul"),
        helper.make_node("Transpose", ["scaled"], ["flipped"], name="transpose", perm=[1, 0]),
        helper.make_node("ReduceSum", ["scaled"], ["total"], name="sum", keepdims=0),
    ]
    return _model(
        nodes,
        [
            helper.make_tensor_value_info("left", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("right", TensorProto.FLOAT, ["batch", 2]),
        ],
        [
            helper.make_tensor_value_info("flipped", TensorProto.FLOAT, [4, "batch"]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
        ],
        [scale],
        "two_inputs",
    )


SEEDS = {"cnn": cnn, "mlp": mlp, "two_inputs": two_inputs}


# --------------------------------------------------------------------------- named malformations (the probe's)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def cyclic(model: onnx.ModelProto) -> onnx.ModelProto:
    """The first node reads the second node's output: a cycle."""
    broken = _copy(model)
    first, second = broken.graph.node[0], broken.graph.node[1]
    first.input[0] = second.output[0]
    return broken


def self_loop(model: onnx.ModelProto) -> onnx.ModelProto:
    """A node reads its own output."""
    broken = _copy(model)
    node = broken.graph.node[1]
    node.input[0] = node.output[0]
    return broken


def undefined_tensor(model: onnx.ModelProto) -> onnx.ModelProto:
    """A node reads a tensor nothing defines ('ghost')."""
    broken = _copy(model)
    broken.graph.node[1].input[0] = "ghost"
    return broken


def wrong_initializer_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """An initializer whose dims do not match its data."""
    broken = _copy(model)
    initializer = broken.graph.initializer[0]
    initializer.dims[0] += 1
    return broken


def no_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    broken = _copy(model)
    del broken.graph.output[:]
    return broken


def opset(model: onnx.ModelProto, version: int) -> onnx.ModelProto:
    broken = _copy(model)
    broken.opset_import[0].version = version
    return broken


# --------------------------------------------------------------------------- random mutations (the fuzzer's)


def _delete_input(model, rng):
    if model.graph.input:
        del model.graph.input[rng.randrange(len(model.graph.input))]


def _rename_initializer(model, rng):
    if model.graph.initializer:
        model.graph.initializer[rng.randrange(len(model.graph.initializer))].name += "_renamed"


def _wrong_dims(model, rng):
    if model.graph.initializer:
        tensor = model.graph.initializer[rng.randrange(len(model.graph.initializer))]
        if tensor.dims:
            tensor.dims[rng.randrange(len(tensor.dims))] = rng.choice([0, -1, 2, 7, 1 << 40])
        else:
            tensor.dims.append(3)


def _wrong_attribute_type(model, rng):
    attributes = [a for node in model.graph.node for a in node.attribute]
    if not attributes:
        return
    attribute = rng.choice(attributes)
    value_kind = rng.choice(["float", "string", "ints", "tensor", "int"])
    replacement = {
        "float": lambda: helper.make_attribute(attribute.name, 2.5),
        "string": lambda: helper.make_attribute(attribute.name, b"NOPE"),
        "ints": lambda: helper.make_attribute(attribute.name, [rng.randrange(-5, 99) for _ in range(3)]),
        "tensor": lambda: helper.make_attribute(
            attribute.name, numpy_helper.from_array(np.ones(2, np.float32))
        ),
        "int": lambda: helper.make_attribute(attribute.name, rng.choice([-(1 << 40), -1, 0, 1 << 40])),
    }[value_kind]()
    attribute.CopyFrom(replacement)


def _extreme_opset(model, rng):
    model.opset_import[0].version = rng.choice([-1, 0, 1, 6, 99, (1 << 31) - 1, 1 << 62])


def _no_outputs(model, rng):
    del model.graph.output[:]


def _cycle(model, rng):
    if len(model.graph.node) >= 2:
        model.graph.node[0].input[0] = model.graph.node[-1].output[0]


def _self_loop(model, rng):
    node = rng.choice(model.graph.node)
    if node.input:
        node.input[0] = node.output[0]


def _undefined(model, rng):
    node = rng.choice(model.graph.node)
    if node.input:
        node.input[rng.randrange(len(node.input))] = "ghost"


def _wrong_element_type(model, rng):
    values = [*model.graph.input, *model.graph.output]
    if not values:
        return
    rng.choice(values).type.tensor_type.elem_type = rng.choice([0, 8, 12, 77])


def _unknown_operator(model, rng):
    rng.choice(model.graph.node).op_type = rng.choice(["Frobnicate", "", "conv"])


def _duplicate_output_name(model, rng):
    if len(model.graph.node) >= 2:
        model.graph.node[1].output[0] = model.graph.node[0].output[0]


def _drop_node_input(model, rng):
    node = rng.choice(model.graph.node)
    if node.input:
        del node.input[-1]


def _wrong_input_rank(model, rng):
    if not model.graph.input:
        return
    value = rng.choice(list(model.graph.input))
    shape = value.type.tensor_type.shape
    if rng.random() < 0.5 and shape.dim:
        del shape.dim[-1]
    else:
        shape.dim.add().dim_value = rng.choice([0, 1, 5])


def _ir_version(model, rng):
    model.ir_version = rng.choice([0, 1, 3, 99])


def _perturb_weights(model, rng):
    """Still valid: the conversion must run to the end and write its output."""
    floats = [t for t in model.graph.initializer if t.data_type == TensorProto.FLOAT]
    if not floats:
        return
    tensor = rng.choice(floats)
    array = numpy_helper.to_array(tensor) * rng.choice([-1.0, 0.0, 1e30, float("nan")])
    tensor.CopyFrom(numpy_helper.from_array(array.astype(np.float32), tensor.name))


def _rename_node(model, rng):
    """Still valid: node names are free text (quotes, slashes, unicode, empty)."""
    rng.choice(model.graph.node).name = rng.choice(["", "a/b:0", 'q"uote', "ünï", "x" * 300])


STRUCTURED = [
    _perturb_weights,
    _rename_node,
    _delete_input,
    _rename_initializer,
    _wrong_dims,
    _wrong_attribute_type,
    _extreme_opset,
    _no_outputs,
    _cycle,
    _self_loop,
    _undefined,
    _wrong_element_type,
    _unknown_operator,
    _duplicate_output_name,
    _drop_node_input,
    _wrong_input_rank,
    _ir_version,
]


def byte_flips(data: bytes, rng: random.Random) -> bytes:
    """Flip 1-8 random bytes, or truncate, or splice in a run of garbage."""
    buffer = bytearray(data)
    kind = rng.random()
    if kind < 0.15:
        return bytes(buffer[: rng.randrange(1, len(buffer))])
    if kind < 0.25:
        start = rng.randrange(len(buffer))
        buffer[start : start + 8] = bytes(rng.randrange(256) for _ in range(8))
        return bytes(buffer)
    for _ in range(rng.randint(1, 8)):
        buffer[rng.randrange(len(buffer))] = rng.randrange(256)
    return bytes(buffer)


def mutants(seed: int, count: int) -> list[tuple[str, bytes]]:
    """`count` (description, serialized model) pairs, the same ones for the same seed."""
    rng = random.Random(seed)
    bases = {name: build() for name, build in SEEDS.items()}
    # The unmutated seeds first: the success path (output written, nothing else left) is checked too.
    cases = [
        (f"{index}:{name}:valid", bases[name].SerializeToString()) for index, name in enumerate(sorted(bases))
    ]
    for index in range(len(cases), count):
        base_name = rng.choice(sorted(bases))
        base = bases[base_name]
        if rng.random() < 0.3:
            cases.append((f"{index}:{base_name}:byte_flips", byte_flips(base.SerializeToString(), rng)))
            continue
        model = _copy(base)
        applied = rng.sample(STRUCTURED, rng.choice([1, 1, 1, 2]))
        for mutation in applied:
            try:
                mutation(model, rng)
            except (ValueError, IndexError):  # an earlier mutation left nothing this one can change
                pass
        description = "+".join(m.__name__.lstrip("_") for m in applied)
        cases.append((f"{index}:{base_name}:{description}", model.SerializeToString()))
    return cases
