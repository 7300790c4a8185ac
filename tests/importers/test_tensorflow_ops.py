"""Handlers family by family, eager and traced, against onnx's reference evaluator (a table of cases)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

tf = pytest.importorskip("tensorflow")

from toolkit.importers.tensorflow import import_onnx  # noqa: E402

RNG = np.random.default_rng(1)
F = TensorProto.FLOAT


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# (id, node, inputs, opset)
CASES = [
    (
        "conv_same_lower",
        helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER", strides=[2, 2]),
        [_x(1, 2, 7, 7), _x(4, 2, 3, 3)],
        17,
    ),
    (
        "conv_depthwise",
        helper.make_node("Conv", ["x", "w"], ["y"], group=4, pads=[1, 1, 1, 1]),
        [_x(2, 4, 6, 6), _x(8, 1, 3, 3)],
        17,
    ),
    (
        "conv_dilated_strided_1d",
        helper.make_node("Conv", ["x", "w"], ["y"], dilations=[2], strides=[2]),
        [_x(1, 3, 11), _x(2, 3, 3)],
        17,
    ),
    (
        "conv_transpose_padded",
        helper.make_node(
            "ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]
        ),
        [_x(1, 3, 4, 4), _x(3, 2, 3, 3)],
        17,
    ),
    (
        "maxpool_ceil",
        helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        [_x(1, 2, 8, 8)],
        17,
    ),
    (
        "avgpool_exclude_pad",
        helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        [_x(1, 2, 5, 5)],
        17,
    ),
    (
        "resize_cubic_half_pixel",
        helper.make_node("Resize", ["x", "", "s"], ["y"], mode="cubic"),
        [_x(1, 1, 4, 4), np.array([1, 1, 2, 1.5], np.float32)],
        19,
    ),
    (
        "resize_nearest_sizes",
        helper.make_node("Resize", ["x", "", "", "s"], ["y"], mode="nearest", nearest_mode="floor"),
        [_x(1, 2, 3, 5), np.array([1, 2, 7, 4], np.int64)],
        19,
    ),
    ("softmax_axis1", helper.make_node("Softmax", ["x"], ["y"], axis=1), [_x(2, 3, 4)], 13),
    (
        "reduce_mean_dynamic_axes",
        helper.make_node("ReduceMean", ["x", "a"], ["y"], keepdims=0),
        [_x(2, 3, 4), np.array([-1, 0], np.int64)],
        18,
    ),
    (
        "slice_negative_step",
        helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
        [
            _x(5, 6),
            np.array([-1], np.int64),
            np.array([-100], np.int64),
            np.array([1], np.int64),
            np.array([-2], np.int64),
        ],
        13,
    ),
    (
        "gather_elements_negative",
        helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1),
        [_x(3, 4), np.array([[-1, 0], [1, 2], [3, -4]], np.int64)],
        13,
    ),
    (
        "pad_edge",
        helper.make_node("Pad", ["x", "p"], ["y"], mode="edge"),
        [_x(2, 3), np.array([1, 2, 0, 1], np.int64)],
        18,
    ),
    (
        "lstm_bidirectional",
        helper.make_node(
            "LSTM", ["x", "w", "r", "b"], ["y", "h", "c"], hidden_size=3, direction="bidirectional"
        ),
        [_x(4, 2, 5), _x(2, 12, 5), _x(2, 12, 3), _x(2, 24)],
        14,
    ),
    (
        "gru_linear_before_reset",
        helper.make_node("GRU", ["x", "w", "r", "b"], ["y", "h"], hidden_size=3, linear_before_reset=1),
        [_x(4, 2, 5), _x(1, 9, 5), _x(1, 9, 3), _x(1, 18)],
        14,
    ),
    (
        "einsum",
        helper.make_node("Einsum", ["a", "b"], ["y"], equation="bij,bjk->bik"),
        [_x(2, 3, 4), _x(2, 4, 5)],
        12,
    ),
    (
        "layer_norm",
        helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1),
        [_x(2, 3, 4), _x(4), _x(4)],
        17,
    ),
    (
        "topk_smallest",
        helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=0, largest=0),
        [_x(5, 3), np.array([2], np.int64)],
        11,
    ),
    (
        "gridsample_bicubic_reflection",
        helper.make_node("GridSample", ["x", "grid"], ["y"], mode="cubic", padding_mode="reflection"),
        [_x(2, 3, 5, 6), RNG.uniform(-1.3, 1.3, (2, 4, 7, 2)).astype(np.float32)],
        20,
    ),
    (
        "gridsample_nearest_border_3d",
        helper.make_node(
            "GridSample", ["x", "grid"], ["y"], mode="nearest", padding_mode="border", align_corners=1
        ),
        [_x(1, 2, 3, 4, 5), RNG.uniform(-1.2, 1.2, (1, 2, 3, 4, 3)).astype(np.float32)],
        20,
    ),
    (
        "dft_onesided_length",
        helper.make_node("DFT", ["x", "n", "axis"], ["y"], onesided=1),
        [_x(2, 8, 3, 1), np.array(6, np.int64), np.array(1, np.int64)],
        20,
    ),
    (
        "stft_window",
        helper.make_node("STFT", ["x", "step", "window"], ["y"]),
        [_x(2, 32, 1), np.array(4, np.int64), np.hanning(8).astype(np.float32)],
        17,
    ),
    (
        "mel_weight_matrix",
        helper.make_node("MelWeightMatrix", ["bins", "n", "rate", "low", "high"], ["y"]),
        [
            np.array(8, np.int64),
            np.array(64, np.int64),
            np.array(16000, np.int64),
            np.array(0.0, np.float32),
            np.array(8000.0, np.float32),
        ],
        17,
    ),
    (
        "nms_center_point_two_classes",
        helper.make_node(
            "NonMaxSuppression", ["boxes", "scores", "k", "iou", "floor"], ["y"], center_point_box=1
        ),
        [
            np.concatenate([RNG.uniform(0, 4, (2, 6, 2)), RNG.uniform(1, 3, (2, 6, 2))], -1).astype(
                np.float32
            ),
            RNG.uniform(0, 1, (2, 2, 6)).astype(np.float32),
            np.array([3], np.int64),
            np.array([0.3], np.float32),
            np.array([0.2], np.float32),
        ],
        11,
    ),
    (
        "batch_norm_training",
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"], training_mode=1),
        [_x(3, 2, 4, 4), _x(2), _x(2), _x(2), np.abs(_x(2))],
        15,
    ),
    (
        "scatternd_mul",
        helper.make_node("ScatterND", ["x", "i", "u"], ["y"], reduction="mul"),
        [_x(4, 3), np.array([[1], [3], [1]], np.int64), _x(3, 3)],
        18,
    ),
    (
        "maxpool_indices_column_major_padded",
        helper.make_node(
            "MaxPool",
            ["x"],
            ["y", "i"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 0, 1, 1],
            storage_order=1,
        ),
        [_x(2, 3, 7, 6)],
        12,
    ),
    (
        "maxpool_indices_1d_ceil",
        helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[3], strides=[2], ceil_mode=1),
        [_x(2, 2, 8)],
        12,
    ),
    (
        "maxunpool_output_shape",
        helper.make_node("MaxUnpool", ["x", "i", "o"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
        [
            _x(1, 2, 2, 2),
            np.array([[[[5, 7], [8, 14]], [[16, 19], [25, 31]]]], np.int64),
            np.array([1, 2, 5, 5], np.int64),
        ],
        11,
    ),
    (
        "roialign_16_max_output_half_pixel",
        helper.make_node(
            "RoiAlign",
            ["x", "rois", "b"],
            ["y"],
            mode="max",
            output_height=3,
            output_width=2,
            sampling_ratio=2,
            spatial_scale=0.5,
            coordinate_transformation_mode="output_half_pixel",
        ),
        [
            _x(2, 3, 8, 9),
            np.array([[0, 1, 9, 12], [3, 2, 16, 7], [-2, -1, 4, 3]], np.float32),
            np.array([1, 0, 1], np.int64),
        ],
        16,
    ),
    (
        "roialign_16_adaptive_half_pixel",
        helper.make_node("RoiAlign", ["x", "rois", "b"], ["y"], output_height=2, output_width=3),
        [
            _x(2, 3, 8, 9),
            np.array([[0.5, 1, 7.2, 6], [3, 2, 8.5, 7.5], [1, 1, 1.4, 1.2]], np.float32),
            np.array([0, 1, 1], np.int64),
        ],
        16,
    ),
    (
        "unique_axis_sorted",
        helper.make_node("Unique", ["x"], ["y", "first", "inverse", "counts"], axis=1),
        [np.array([[3, 1, 3, 2, 1], [0, 5, 0, 2, 5], [1, 1, 1, 2, 0]], np.int32)],
        11,
    ),
    (
        "unique_axis_unsorted",
        helper.make_node("Unique", ["x"], ["y", "first", "inverse", "counts"], axis=0, sorted=0),
        [
            np.array([[[2.0], [1.0]], [[0.5], [1.0]], [[2.0], [1.0]], [[0.5], [0.0]]], np.float32).reshape(
                4, 2, 1
            )
        ],
        11,
    ),
    (
        "tensorscatter_circular_axis2",
        helper.make_node("TensorScatter", ["cache", "update", "w"], ["y"], axis=2, mode="circular"),
        [_x(2, 3, 5, 4), _x(2, 3, 3, 4), np.array([4, 1], np.int64)],
        24,
    ),
    (
        "col2im_strided_dilated_padded",
        helper.make_node(
            "Col2Im", ["x", "s", "k"], ["y"], strides=[2, 1], dilations=[1, 2], pads=[1, 0, 0, 1]
        ),
        [_x(2, 3 * 2 * 2, 3 * 5), np.array([5, 6], np.int64), np.array([2, 2], np.int64)],
        18,
    ),
    (
        "deform_conv_groups_mask_bias",
        helper.make_node(
            "DeformConv",
            ["x", "w", "offset", "b", "mask"],
            ["y"],
            group=2,
            offset_group=2,
            strides=[2, 1],
            dilations=[1, 2],
            pads=[1, 2, 0, 1],
        ),
        [
            _x(1, 4, 5, 6),
            _x(6, 2, 2, 3),
            1.5 * _x(1, 2 * 2 * 2 * 3, 3, 5),
            _x(6),
            RNG.uniform(0, 1, (1, 2 * 2 * 3, 3, 5)).astype(np.float32),
        ],
        19,
    ),
    # Shapes, pads, axes and scales as graph inputs: traced, they are only known at run time.
    (
        "resize_dynamic_scales_cubic_antialias",
        helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic", antialias=1),
        [_x(1, 2, 8, 9), np.array([1, 1, 0.6, 0.8], np.float32)],
        18,
    ),
    (
        "resize_dynamic_sizes_nearest",
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest"),
        [_x(1, 2, 4, 5), np.array([1, 2, 7, 3], np.int64)],
        18,
    ),
    (
        # Known bounds are sliced with Python ints: the spec's INT64 sentinels must stay int64.
        "slice_to_int64_max",
        helper.make_node("Slice", ["x", "s", "e", "a"], ["y"]),
        [
            _x(2, 3, 4),
            np.array([1, 0], np.int64),
            np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).max], np.int64),
            np.array([2, 0], np.int64),
        ],
        13,
    ),
    (
        "slice_reversed_to_int64_min",
        helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
        [
            _x(4, 5),
            np.array([-1], np.int64),
            np.array([np.iinfo(np.int64).min], np.int64),
            np.array([0], np.int64),
            np.array([-1], np.int64),
        ],
        13,
    ),
    (
        "pad_dynamic_edge_axes",
        helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"], mode="edge"),
        [_x(2, 3, 4), np.array([1, 0, 2, 3], np.int64), np.array([-1, 1], np.int64)],
        18,
    ),
    (
        "slice_dynamic_axes",
        helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"]),
        [
            _x(4, 5, 6),
            np.array([4, 1], np.int64),
            np.array([0, 5], np.int64),
            np.array([2, 0], np.int64),
            np.array([-2, 2], np.int64),
        ],
        13,
    ),
    (
        "unsqueeze_dynamic_axes",
        helper.make_node("Unsqueeze", ["x", "axes"], ["y"]),
        [_x(3, 4), np.array([-1, 0], np.int64)],
        13,
    ),
    (
        "squeeze_dynamic_axes",
        helper.make_node("Squeeze", ["x", "axes"], ["y"]),
        [_x(3, 1, 4, 1), np.array([-1, 1], np.int64)],
        13,
    ),
    (
        "reduce_dynamic_axes",
        helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=0),
        [_x(3, 4, 5), np.array([-1, 0], np.int64)],
        18,
    ),
]


# Inputs with these names are shapes, axes, pads, scales: initializers, known when tracing.
STATIC_NAMES = {"s", "e", "a", "t", "p", "k"}


def _model(node, inputs, opset):
    names = [n for n in node.input if n]
    graph = helper.make_graph(
        [node],
        "case",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for n, v in zip(names, inputs, strict=False)
            if n not in STATIC_NAMES
        ],
        [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in node.output],
        [numpy_helper.from_array(v, n) for n, v in zip(names, inputs, strict=False) if n in STATIC_NAMES],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("node,inputs,opset", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_handler_matches_the_reference(node, inputs, opset):
    model = _model(node, inputs, opset)
    feeds = [
        (n, v) for n, v in zip([n for n in node.input if n], inputs, strict=False) if n not in STATIC_NAMES
    ]
    want = ReferenceEvaluator(model).run(None, dict(feeds))
    module = import_onnx(model)
    values = [v for _, v in feeds]
    for got in (module.call_eager(*values), module(*values)):
        got = got if isinstance(got, tuple) else (got,)
        for g, w in zip(got, want, strict=False):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_roialign_opset10_matches_onnxruntime(mode):
    # onnx's reference evaluator applies opset 16's half_pixel default to opset 10 models; onnxruntime
    # keeps opset 10's rule (no half-pixel shift, regions at least one pixel), so it is the oracle here.
    ort = pytest.importorskip("onnxruntime")
    node = helper.make_node(
        "RoiAlign",
        ["x", "rois", "b"],
        ["y"],
        mode=mode,
        output_height=3,
        output_width=2,
        sampling_ratio=2,
        spatial_scale=0.5,
    )
    graph = helper.make_graph(
        [node],
        "case",
        [
            helper.make_tensor_value_info("x", F, [2, 3, 8, 9]),
            helper.make_tensor_value_info("rois", F, [3, 4]),
            helper.make_tensor_value_info("b", TensorProto.INT64, [3]),
        ],
        [helper.make_tensor_value_info("y", F, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)])
    values = [
        _x(2, 3, 8, 9),
        np.array([[0, 1, 9, 12], [3, 2, 16, 7], [-2, -1, 4, 3], [1, 1, 1.5, 1.2]][:3], np.float32),
        np.array([1, 0, 1], np.int64),
    ]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (want,) = session.run(None, dict(zip(["x", "rois", "b"], values, strict=True)))
    module = import_onnx(model)
    for got in (module.call_eager(*values), module(*values)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)
