"""Imported ONNX models against the same architecture written natively in Keras (both via tf.function).

Prints median latencies and their ratio at batch 1 and 32 for a CNN and an LSTM, and the time
to convert a ResNet-50-sized graph (≈25M parameters, 53 convolutions).

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python scripts/bench_tensorflow_import.py
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)


def _weights(name, shape):
    return numpy_helper.from_array((RNG.standard_normal(shape) * 0.05).astype(np.float32), name)


def cnn_onnx() -> onnx.ModelProto:
    """conv3x3(32)-relu-maxpool → conv3x3(64)-relu-maxpool → conv3x3(128)-relu → GAP → dense(10)."""
    inits, nodes, previous, channels = [], [], "x", 3
    for i, width in enumerate((32, 64, 128)):
        inits += [_weights(f"w{i}", (width, channels, 3, 3)), _weights(f"b{i}", (width,))]
        nodes.append(
            helper.make_node("Conv", [previous, f"w{i}", f"b{i}"], [f"c{i}"], name=f"conv{i}", pads=[1] * 4)
        )
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"))
        previous, channels = f"r{i}", width
        if i < 2:
            nodes.append(
                helper.make_node(
                    "MaxPool", [previous], [f"p{i}"], name=f"pool{i}", kernel_shape=[2, 2], strides=[2, 2]
                )
            )
            previous = f"p{i}"
    inits += [_weights("fc_w", (10, 128)), _weights("fc_b", (10,))]
    nodes += [
        helper.make_node("GlobalAveragePool", [previous], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def cnn_keras():
    import keras

    return keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(128, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )


SEQUENCE, FEATURES, HIDDEN = 50, 32, 128


def lstm_onnx() -> onnx.ModelProto:
    """LSTM(128) over [batch, 50, 32] (layout=1), last hidden state → dense(10)."""
    inits = [
        _weights("W", (1, 4 * HIDDEN, FEATURES)),
        _weights("R", (1, 4 * HIDDEN, HIDDEN)),
        _weights("B", (1, 8 * HIDDEN)),
        _weights("fc_w", (HIDDEN, 10)),
        _weights("fc_b", (10,)),
    ]
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R", "B"], ["", "h"], name="lstm", hidden_size=HIDDEN, layout=1),
        helper.make_node("Squeeze", ["h", "one"], ["h2"], name="squeeze"),
        helper.make_node("MatMul", ["h2", "fc_w"], ["m"], name="fc"),
        helper.make_node("Add", ["m", "fc_b"], ["y"], name="fc_bias"),
    ]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "one"))
    graph = helper.make_graph(
        nodes,
        "lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", SEQUENCE, FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def lstm_keras():
    import keras

    return keras.Sequential(
        [keras.Input((SEQUENCE, FEATURES)), keras.layers.LSTM(HIDDEN), keras.layers.Dense(10)]
    )


def resnet50_onnx() -> onnx.ModelProto:
    """ResNet-50's shape: bottleneck stages [3, 4, 6, 3], BatchNorm after every conv, ≈25.5M parameters."""
    inits, nodes = [], []
    counter = [0]

    def conv_bn(x, cin, cout, k, stride, relu=True):
        i = counter[0] = counter[0] + 1
        inits.extend(
            [
                _weights(f"conv{i}.weight", (cout, cin, k, k)),
                numpy_helper.from_array(np.ones(cout, np.float32), f"bn{i}.weight"),
                numpy_helper.from_array(np.zeros(cout, np.float32), f"bn{i}.bias"),
                numpy_helper.from_array(np.zeros(cout, np.float32), f"bn{i}.running_mean"),
                numpy_helper.from_array(np.ones(cout, np.float32), f"bn{i}.running_var"),
            ]
        )
        nodes.append(
            helper.make_node(
                "Conv",
                [x, f"conv{i}.weight"],
                [f"c{i}"],
                name=f"conv{i}",
                pads=[k // 2] * 4,
                strides=[stride] * 2,
            )
        )
        nodes.append(
            helper.make_node(
                "BatchNormalization",
                [f"c{i}", f"bn{i}.weight", f"bn{i}.bias", f"bn{i}.running_mean", f"bn{i}.running_var"],
                [f"n{i}"],
                name=f"bn{i}",
            )
        )
        if not relu:
            return f"n{i}"
        nodes.append(helper.make_node("Relu", [f"n{i}"], [f"r{i}"], name=f"relu{i}"))
        return f"r{i}"

    x = conv_bn("x", 3, 64, 7, 2)
    nodes.append(
        helper.make_node(
            "MaxPool", [x], ["pool"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4
        )
    )
    x, cin = "pool", 64
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=False)):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            shortcut = conv_bn(x, cin, width * 4, 1, stride, relu=False) if block == 0 else x
            y = conv_bn(x, cin, width, 1, 1)
            y = conv_bn(y, width, width, 3, stride)
            y = conv_bn(y, width, width * 4, 1, 1, relu=False)
            name = f"s{stage}b{block}"
            nodes.append(helper.make_node("Add", [y, shortcut], [name + "_sum"], name=name + "_add"))
            nodes.append(helper.make_node("Relu", [name + "_sum"], [name], name=name + "_relu"))
            x, cin = name, width * 4
    inits += [_weights("fc.weight", (1000, 2048)), _weights("fc.bias", (1000,))]
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "resnet50",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1000])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def median_latency(function, argument, repeats: int) -> float:
    for _ in range(3):
        function(argument)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(argument)
        _ = result.numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import tensorflow as tf

    from toolkit.importers.tensorflow import import_onnx

    print(f"{'model':6} {'batch':>5} {'keras ms':>9} {'imported ms':>12} {'ratio':>6}")
    for label, onnx_model, keras_model, shape in (
        ("cnn", cnn_onnx(), cnn_keras(), lambda b: ((b, 3, 64, 64), (b, 64, 64, 3))),
        ("lstm", lstm_onnx(), lstm_keras(), lambda b: ((b, SEQUENCE, FEATURES), (b, SEQUENCE, FEATURES))),
    ):
        imported = import_onnx(onnx_model)
        native = tf.function(lambda x, model=keras_model: model(x, training=False), reduce_retracing=True)
        for batch in (1, 32):
            onnx_shape, keras_shape = shape(batch)
            x_onnx = tf.constant(RNG.standard_normal(onnx_shape).astype(np.float32))
            x_keras = tf.constant(RNG.standard_normal(keras_shape).astype(np.float32))
            repeats = 50 if label == "cnn" else 30
            # Interleave to share the machine's noise fairly.
            keras_ms = min(median_latency(native, x_keras, repeats) for _ in range(2)) * 1e3
            imported_ms = min(median_latency(imported, x_onnx, repeats) for _ in range(2)) * 1e3
            print(f"{label:6} {batch:5d} {keras_ms:9.2f} {imported_ms:12.2f} {imported_ms / keras_ms:6.2f}")

    model = resnet50_onnx()
    parameters = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    start = time.perf_counter()
    imported = import_onnx(model)
    convert_s = time.perf_counter() - start
    start = time.perf_counter()
    imported(tf.zeros([1, 3, 224, 224]))
    trace_s = time.perf_counter() - start
    print(
        f"resnet50-sized ({parameters / 1e6:.1f}M parameters): conversion {convert_s:.2f} s, first call (trace) {trace_s:.2f} s"
    )


if __name__ == "__main__":
    main()
