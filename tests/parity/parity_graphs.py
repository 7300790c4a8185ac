"""Small ONNX models built from code, and the deliberate faults parity must find in them."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 20
FEATURES = 16


def mlp(layers: int = 4, seed: int = 0, dynamic_sequence: bool = False, gain: float = 2.0) -> onnx.ModelProto:
    """x -> (Gemm -> Gelu) * layers -> Gemm; node names `gemm_i`, `gelu_i`, as an exporter would write."""
    generator = np.random.default_rng(seed)
    nodes, initializers = [], []
    current = "x"
    for index in range(layers):
        weight = (gain * generator.standard_normal((FEATURES, FEATURES)) / np.sqrt(FEATURES)).astype(
            np.float32
        )
        bias = (0.1 * generator.standard_normal(FEATURES)).astype(np.float32)
        initializers += [
            numpy_helper.from_array(weight, f"w{index}"),
            numpy_helper.from_array(bias, f"b{index}"),
        ]
        nodes.append(
            helper.make_node("MatMul", [current, f"w{index}"], [f"mm{index}"], name=f"matmul_{index}")
        )
        nodes.append(helper.make_node("Add", [f"mm{index}", f"b{index}"], [f"h{index}"], name=f"add_{index}"))
        nodes.append(helper.make_node("Gelu", [f"h{index}"], [f"g{index}"], name=f"gelu_{index}"))
        current = f"g{index}"
    head = generator.standard_normal((FEATURES, 4)).astype(np.float32)
    initializers.append(numpy_helper.from_array(head, "w_head"))
    nodes.append(helper.make_node("MatMul", [current, "w_head"], ["logits"], name="head"))
    shape = ["batch", "sequence", FEATURES] if dynamic_sequence else ["batch", FEATURES]
    out_shape = ["batch", "sequence", 4] if dynamic_sequence else ["batch", 4]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def perturb_weight(model: onnx.ModelProto, name: str, amount: float = 0.05) -> onnx.ModelProto:
    """One weight tensor scaled by (1 + amount): a layer that went wrong in conversion."""
    changed = onnx.ModelProto()
    changed.CopyFrom(model)
    tensor = next(t for t in changed.graph.initializer if t.name == name)
    array = numpy_helper.to_array(tensor) * np.float32(1 + amount)
    tensor.CopyFrom(numpy_helper.from_array(array, name))
    return changed


def swap_gelu_for_tanh(model: onnx.ModelProto, node_name: str) -> onnx.ModelProto:
    """One Gelu switched to its tanh approximation (what a converter that drops `approximate` does)."""
    changed = onnx.ModelProto()
    changed.CopyFrom(model)
    node = next(n for n in changed.graph.node if n.name == node_name)
    del node.attribute[:]
    node.attribute.append(helper.make_attribute("approximate", "tanh"))
    return changed


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The whole model in float16, float32 at the boundary: Cast in after each input, out before each output."""
    changed = onnx.ModelProto()
    changed.CopyFrom(model)
    graph = changed.graph
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT:
            tensor.CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name)
            )
    renames = {i.name: f"{i.name}_fp16" for i in graph.input}
    outputs = {o.name: f"{o.name}_fp16" for o in graph.output}
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [outputs.get(n, n) for n in node.output]
    casts_in = [
        helper.make_node("Cast", [name], [renamed], to=TensorProto.FLOAT16, name=f"cast_{name}")
        for name, renamed in renames.items()
    ]
    casts_out = [
        helper.make_node("Cast", [renamed], [name], to=TensorProto.FLOAT, name=f"cast_{name}")
        for name, renamed in outputs.items()
    ]
    nodes = casts_in + list(graph.node) + casts_out
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(changed)
    return changed


def nhwc_twin(channels: int = 3) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """A conv model taking NCHW and its twin taking NHWC and returning NHWC feature maps."""
    generator = np.random.default_rng(3)
    weight = generator.standard_normal((4, channels, 3, 3)).astype(np.float32)

    def build(channels_last: bool) -> onnx.ModelProto:
        nodes = []
        source = "image"
        if channels_last:
            nodes.append(
                helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw")
            )
            source = "nchw"
        conv_out = "features_nchw" if channels_last else "features"
        nodes.append(helper.make_node("Conv", [source, "w"], [conv_out], pads=[1, 1, 1, 1], name="conv"))
        if channels_last:
            nodes.append(
                helper.make_node("Transpose", [conv_out], ["features"], perm=[0, 2, 3, 1], name="to_nhwc")
            )
        in_shape = ["batch", 8, 8, channels] if channels_last else ["batch", channels, 8, 8]
        out_shape = ["batch", 8, 8, 4] if channels_last else ["batch", 4, 8, 8]
        graph = helper.make_graph(
            nodes,
            "conv",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info("features", TensorProto.FLOAT, out_shape)],
            [numpy_helper.from_array(weight, "w")],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])

    return build(False), build(True)


def with_ids_and_mask() -> onnx.ModelProto:
    """Token ids and a boolean mask with a dynamic sequence: Gather from an embedding, masked, summed."""
    table = np.random.default_rng(4).standard_normal((30, 8)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["embedded"], name="embed"),
        helper.make_node("Cast", ["mask"], ["mask_float"], to=TensorProto.FLOAT, name="mask_cast"),
        helper.make_node("Unsqueeze", ["mask_float", "axis"], ["mask_3d"], name="unsqueeze"),
        helper.make_node("Mul", ["embedded", "mask_3d"], ["masked"], name="apply_mask"),
        helper.make_node("ReduceSum", ["masked", "axis_1"], ["pooled"], keepdims=0, name="pool"),
    ]
    graph = helper.make_graph(
        nodes,
        "ids",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", 8])],
        [
            numpy_helper.from_array(table, "embedding"),
            numpy_helper.from_array(np.array([2], np.int64), "axis"),
            numpy_helper.from_array(np.array([1], np.int64), "axis_1"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def long_chain(nodes: int = 1000, width: int = 64) -> onnx.ModelProto:
    """A graph of `nodes` nodes (MatMul/Add/Tanh blocks): localisation must stay fast at this size."""
    generator = np.random.default_rng(5)
    graph_nodes, initializers = [], []
    current = "x"
    index = 0
    while len(graph_nodes) + 3 <= nodes:
        weight = (generator.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        initializers.append(numpy_helper.from_array(weight, f"w{index}"))
        initializers.append(numpy_helper.from_array(np.full(width, 0.01, np.float32), f"b{index}"))
        graph_nodes += [
            helper.make_node("MatMul", [current, f"w{index}"], [f"m{index}"], name=f"matmul_{index}"),
            helper.make_node("Add", [f"m{index}", f"b{index}"], [f"a{index}"], name=f"add_{index}"),
            helper.make_node("Tanh", [f"a{index}"], [f"t{index}"], name=f"tanh_{index}"),
        ]
        current = f"t{index}"
        index += 1
    while len(graph_nodes) < nodes:
        graph_nodes.append(
            helper.make_node(
                "Identity", [current], [f"id{len(graph_nodes)}"], name=f"identity_{len(graph_nodes)}"
            )
        )
        current = f"id{len(graph_nodes) - 1}"
    graph_nodes[-1].output[0] = "y"
    graph = helper.make_graph(
        graph_nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
