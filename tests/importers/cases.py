"""One table of operator cases, run against both importers with onnx's ReferenceEvaluator as oracle.

Each case is a small graph (mostly one node) with seeded inputs; `test_cases.py` imports it into
torch and TensorFlow and compares every output with the reference evaluator's. A case one
framework cannot run yet is listed in that framework's EXPECTED_FAILURES with the reason; a
listed case that passes fails the test, so the lists only shrink. The families whose rules live
in `toolkit/importers/semantics/` (Resize, Conv and pooling, detection, RNNs) are covered here,
among them every case where the two tables once disagreed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)


def _normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@dataclass(frozen=True)
class Case:
    """`feeds` become graph inputs (axis 0 of those in `dynamic` named "N"), `constants` initializers."""

    name: str
    nodes: list[onnx.NodeProto]
    feeds: dict[str, np.ndarray]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("y",)
    opset: int = 21
    dynamic: tuple[str, ...] = ()
    rtol: float = 1e-4
    atol: float = 1e-5

    def model(self) -> onnx.ModelProto:
        inputs = []
        for name, value in self.feeds.items():
            shape = list(value.shape)
            if name in self.dynamic:
                shape[0] = "N"
            inputs.append(
                helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), shape)
            )
        graph = helper.make_graph(
            self.nodes,
            self.name,
            inputs,
            [helper.make_tensor_value_info(name, _output_type(self, name), None) for name in self.outputs],
            initializer=[numpy_helper.from_array(value, name) for name, value in self.constants.items()],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])


def _output_type(case: Case, name: str) -> int:
    """Declared output types (onnxruntime wants them): indices are int64, the rest like the first feed."""
    if name == "indices" or case.nodes[-1].op_type == "NonMaxSuppression":
        return TensorProto.INT64
    return helper.np_dtype_to_tensor_dtype(next(iter(case.feeds.values())).dtype)


def op(name, op_type, inputs, feeds, constants=None, outputs=("y",), opset=21, **attributes) -> Case:
    """A one-node case: `inputs` names the node's inputs in order ("" for an omitted one)."""
    node = helper.make_node(op_type, list(inputs), list(outputs), name=name, **attributes)
    return Case(name, [node], feeds, constants or {}, tuple(outputs), opset)


def _sizes_from_shape(name, x, spatial, **attributes) -> Case:
    """Resize to x.shape[:2] + spatial with a dynamic batch: Keras UpSampling2D and
    F.interpolate(size=...) write this chain; the sizes are known except for the batch."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "two"], ["leading"]),
        helper.make_node("Concat", ["leading", "spatial"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], name=name, **attributes),
    ]
    constants = {
        "zero": np.array([0], np.int64),
        "two": np.array([2], np.int64),
        "spatial": np.array(spatial, np.int64),
    }
    return Case(name, nodes, {"x": x}, constants, opset=19, dynamic=("x",))


x4 = _normal(2, 3, 7, 9)
x5 = _normal(1, 2, 6, 7, 8)
image = _normal(1, 3, 10, 12)


def _f32(*values):
    return np.array(values, np.float32)


def _i64(*values):
    return np.array(values, np.int64)


RESIZE = [
    op(
        "resize_linear_half_pixel_down",
        "Resize",
        ["x", "", "scales"],
        {"x": x4},
        {"scales": _f32(1, 1, 0.6, 0.7)},
        mode="linear",
    ),
    op(
        "resize_cubic_antialias_down",
        "Resize",
        ["x", "", "scales"],
        {"x": x4},
        {"scales": _f32(1, 1, 0.5, 0.4)},
        mode="cubic",
        antialias=1,
    ),
    op(
        "resize_linear_antialias_exclude_outside",
        "Resize",
        ["x", "", "scales"],
        {"x": x4},
        {"scales": _f32(1, 1, 0.45, 0.8)},
        mode="linear",
        antialias=1,
        exclude_outside=1,
    ),
    op(
        "resize_cubic_exclude_outside_up",
        "Resize",
        ["x", "", "scales"],
        {"x": x4},
        {"scales": _f32(1, 1, 1.7, 2.0)},
        mode="cubic",
        exclude_outside=1,
        cubic_coeff_a=-0.5,
    ),
    op(
        "resize_nearest_not_larger_axes",
        "Resize",
        ["x", "", "", "sizes"],
        {"x": x4},
        {"sizes": _i64(12, 12)},
        axes=[2, 3],
        keep_aspect_ratio_policy="not_larger",
    ),
    op(
        "resize_linear_not_smaller_axes",
        "Resize",
        ["x", "", "", "sizes"],
        {"x": x4},
        {"sizes": _i64(5, 5)},
        axes=[3, 2],
        keep_aspect_ratio_policy="not_smaller",
        mode="linear",
    ),
    op(
        "resize_nearest_round_prefer_ceil_asymmetric",
        "Resize",
        ["x", "", "scales"],
        {"x": x4},
        {"scales": _f32(1, 1, 2.5, 1.5)},
        coordinate_transformation_mode="asymmetric",
        nearest_mode="round_prefer_ceil",
    ),
    op(
        "resize_nearest_ceil_half_pixel_symmetric",
        "Resize",
        ["x", "", "", "sizes"],
        {"x": x4},
        {"sizes": _i64(2, 3, 10, 4)},
        coordinate_transformation_mode="half_pixel_symmetric",
        nearest_mode="ceil",
    ),
    op(
        "resize_linear_half_pixel_symmetric",
        "Resize",
        ["x", "", "scales"],
        {"x": x4},
        {"scales": _f32(1, 1, 1.3, 0.7)},
        coordinate_transformation_mode="half_pixel_symmetric",
        mode="linear",
    ),
    op(
        "resize_linear_pytorch_half_pixel_to_one",
        "Resize",
        ["x", "", "", "sizes"],
        {"x": x4},
        {"sizes": _i64(2, 3, 1, 4)},
        coordinate_transformation_mode="pytorch_half_pixel",
        mode="linear",
    ),
    op(
        "resize_linear_align_corners",
        "Resize",
        ["x", "", "", "sizes"],
        {"x": x4},
        {"sizes": _i64(2, 3, 11, 5)},
        coordinate_transformation_mode="align_corners",
        mode="linear",
    ),
    op(
        "resize_tf_crop_and_resize_extrapolation",
        "Resize",
        ["x", "roi", "", "sizes"],
        {"x": x4},
        {"roi": _f32(0, 0, 0.2, -0.1, 1, 1, 1.2, 0.9), "sizes": _i64(2, 3, 6, 6)},
        coordinate_transformation_mode="tf_crop_and_resize",
        mode="linear",
        extrapolation_value=-3.0,
    ),
    op(
        "resize_nearest_integer_input",
        "Resize",
        ["x", "", "scales"],
        {"x": np.arange(2 * 3 * 4 * 5, dtype=np.int32).reshape(2, 3, 4, 5)},
        {"scales": _f32(1, 1, 1.5, 0.5)},
    ),
    op(
        "resize_opset10_nearest", "Resize", ["x", "scales"], {"x": x4}, {"scales": _f32(1, 1, 2, 3)}, opset=10
    ),
    op(
        "upsample_opset9_linear",
        "Upsample",
        ["x", "scales"],
        {"x": x4},
        {"scales": _f32(1, 1, 2, 1.5)},
        opset=9,
        mode="linear",
    ),
    _sizes_from_shape("resize_sizes_from_shape_dynamic_batch", x4, [14, 18], mode="linear"),
    _sizes_from_shape(
        "resize_nearest_sizes_from_shape_dynamic_batch",
        x4,
        [21, 9],
        mode="nearest",
        nearest_mode="floor",
        coordinate_transformation_mode="asymmetric",
    ),
]

w3 = _normal(4, 3, 3, 3)
CONV = [
    op(
        "conv_same_lower_stride_dilation",
        "Conv",
        ["x", "w"],
        {"x": x4},
        {"w": w3},
        auto_pad="SAME_LOWER",
        strides=[2, 2],
        dilations=[2, 1],
    ),
    op(
        "conv_same_upper_stride",
        "Conv",
        ["x", "w"],
        {"x": x4},
        {"w": w3},
        auto_pad="SAME_UPPER",
        strides=[2, 3],
    ),
    op(
        "conv_asymmetric_pads_group",
        "Conv",
        ["x", "w"],
        {"x": _normal(2, 4, 7, 9)},
        {"w": _normal(6, 2, 3, 2)},
        pads=[0, 2, 1, 0],
        group=2,
    ),
    op(
        "conv_valid_3d",
        "Conv",
        ["x", "w", "b"],
        {"x": x5},
        {"w": _normal(3, 2, 2, 3, 2), "b": _normal(3)},
        auto_pad="VALID",
        strides=[1, 2, 2],
    ),
    # The disagreement fixed here: torch dropped output_padding when output_shape was given.
    op(
        "conv_transpose_output_shape_output_padding_kernel_shape",
        "ConvTranspose",
        ["x", "w"],
        {"x": _normal(1, 1, 3, 3)},
        {"w": _normal(1, 2, 3, 3)},
        strides=[3, 2],
        output_shape=[10, 8],
        kernel_shape=[3, 3],
        output_padding=[1, 1],
    ),
    op(
        "conv_transpose_same_lower_strides",
        "ConvTranspose",
        ["x", "w"],
        {"x": x4},
        {"w": _normal(3, 2, 3, 2)},
        auto_pad="SAME_LOWER",
        strides=[2, 3],
    ),
    op(
        "conv_transpose_same_upper_dilations",
        "ConvTranspose",
        ["x", "w"],
        {"x": x4},
        {"w": _normal(3, 2, 3, 3)},
        auto_pad="SAME_UPPER",
        strides=[2, 2],
        dilations=[2, 1],
    ),
    op(
        "conv_transpose_asymmetric_pads_output_padding",
        "ConvTranspose",
        ["x", "w", "b"],
        {"x": x4},
        {"w": _normal(3, 4, 3, 3), "b": _normal(4)},
        pads=[1, 0, 0, 2],
        strides=[2, 2],
        output_padding=[1, 0],
    ),
    op(
        "conv_transpose_group",
        "ConvTranspose",
        ["x", "w"],
        {"x": _normal(1, 4, 5, 5)},
        {"w": _normal(4, 3, 3, 3)},
        group=2,
        strides=[2, 1],
        pads=[1, 1, 1, 1],
    ),
]

POOL = [
    # The disagreement fixed here: torch pooled unpadded input when pads exceed half the window.
    op("max_pool_pads_over_half_window", "MaxPool", ["x"], {"x": x4}, kernel_shape=[3, 3], pads=[2, 2, 2, 2]),
    op(
        "max_pool_ceil_dilations_asymmetric",
        "MaxPool",
        ["x"],
        {"x": x4},
        kernel_shape=[2, 3],
        strides=[2, 2],
        dilations=[2, 1],
        pads=[0, 1, 1, 0],
        ceil_mode=1,
    ),
    op(
        "max_pool_same_lower",
        "MaxPool",
        ["x"],
        {"x": x4},
        kernel_shape=[3, 2],
        strides=[2, 2],
        auto_pad="SAME_LOWER",
    ),
    op(
        "max_pool_indices_storage_order_1",
        "MaxPool",
        ["x"],
        {"x": x4},
        outputs=("y", "indices"),
        kernel_shape=[2, 2],
        strides=[2, 2],
        storage_order=1,
    ),
    op(
        "max_pool_indices_3d",
        "MaxPool",
        ["x"],
        {"x": x5},
        outputs=("y", "indices"),
        kernel_shape=[2, 2, 3],
        strides=[2, 2, 2],
    ),
    op(
        "average_pool_count_include_pad_ceil",
        "AveragePool",
        ["x"],
        {"x": x4},
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        ceil_mode=1,
        count_include_pad=1,
    ),
    op(
        "average_pool_exclude_pad_ceil_asymmetric",
        "AveragePool",
        ["x"],
        {"x": x4},
        kernel_shape=[3, 2],
        strides=[2, 3],
        pads=[2, 0, 0, 1],
        ceil_mode=1,
    ),
    op(
        "average_pool_dilations_ceil",
        "AveragePool",
        ["x"],
        {"x": x4},
        kernel_shape=[2, 2],
        strides=[2, 2],
        dilations=[2, 2],
        pads=[1, 0, 1, 1],
        ceil_mode=1,
    ),
    op(
        "average_pool_dilations_count_include_pad_3d",
        "AveragePool",
        ["x"],
        {"x": x5},
        kernel_shape=[2, 2, 2],
        dilations=[2, 1, 2],
        pads=[1, 1, 0, 1, 0, 1],
        count_include_pad=1,
    ),
    op(
        "average_pool_same_upper",
        "AveragePool",
        ["x"],
        {"x": x4},
        kernel_shape=[3, 3],
        strides=[2, 2],
        auto_pad="SAME_UPPER",
    ),
    op(
        "lp_pool_dilations_pads",
        "LpPool",
        ["x"],
        {"x": x4},
        kernel_shape=[2, 3],
        dilations=[2, 1],
        pads=[1, 1, 1, 0],
        p=3,
    ),
    op(
        "lp_pool_ceil_strides",
        "LpPool",
        ["x"],
        {"x": x4},
        kernel_shape=[3, 3],
        strides=[2, 2],
        ceil_mode=1,
        opset=19,
    ),
]

boxes_centre = np.array(
    [
        [
            [0.5, 0.5, 1.0, 1.0],
            [0.55, 0.5, 1.0, 1.0],
            [3.0, 3.0, 2.0, 1.0],
            [3.1, 3.0, 2.0, 1.0],
            [6.0, 1.0, 1.0, 1.0],
        ]
    ],
    np.float32,
)
boxes_flipped = np.array(
    [
        [
            [1.0, 1.0, 0.0, 0.0],
            [0.0, 0.1, 1.0, 1.1],
            [0.0, 0.9, 1.0, -0.1],
            [0.0, 10.0, 1.0, 11.0],
            [1.0, 10.1, 0.0, 11.1],
        ]
    ],
    np.float32,
)
scores = np.array([[[0.9, 0.75, 0.6, 0.95, 0.5], [0.3, 0.8, 0.2, 0.1, 0.7]]], np.float32)
rois = np.array([[0.5, 0.6, 4.4, 6.1], [1.0, 0.0, 9.5, 8.0], [2.2, 3.1, 2.4, 3.3]], np.float32)
DETECTION = [
    op(
        "nms_center_point_box_per_class_limit",
        "NonMaxSuppression",
        ["boxes", "scores", "limit", "iou", "floor"],
        {"boxes": boxes_centre, "scores": scores},
        {"limit": _i64(2), "iou": _f32(0.4), "floor": _f32(0.25)},
        center_point_box=1,
    ),
    op(
        "nms_flipped_corners",
        "NonMaxSuppression",
        ["boxes", "scores", "limit", "iou"],
        {"boxes": boxes_flipped, "scores": scores},
        {"limit": _i64(3), "iou": _f32(0.5)},
    ),
    op(
        "nms_without_optional_inputs",
        "NonMaxSuppression",
        ["boxes", "scores"],
        {"boxes": boxes_flipped, "scores": scores},
    ),
    op(
        "roi_align_half_pixel_adaptive_sampling",
        "RoiAlign",
        ["x", "rois", "batch"],
        {"x": image, "rois": rois},
        {"batch": _i64(0, 0, 0)},
        output_height=3,
        output_width=2,
        spatial_scale=0.8,
        opset=16,
    ),
    op(
        "roi_align_output_half_pixel_ratio_2",
        "RoiAlign",
        ["x", "rois", "batch"],
        {"x": image, "rois": rois},
        {"batch": _i64(0, 0, 0)},
        output_height=2,
        output_width=3,
        sampling_ratio=2,
        coordinate_transformation_mode="output_half_pixel",
        opset=16,
    ),
    op(
        "roi_align_opset10_avg",
        "RoiAlign",
        ["x", "rois", "batch"],
        {"x": image, "rois": rois},
        {"batch": _i64(0, 0, 0)},
        output_height=2,
        output_width=2,
        spatial_scale=0.5,
        opset=10,
    ),
]


def _rnn(name, op_type, gates, direction="forward", steps=5, **attributes) -> Case:
    directions, hidden, size = (2 if direction == "bidirectional" else 1), 4, 3
    constants = {
        "W": _normal(directions, gates * hidden, size) * 0.5,
        "R": _normal(directions, gates * hidden, hidden) * 0.5,
        "B": _normal(directions, 2 * gates * hidden) * 0.5,
    }
    outputs = ("y", "y_h", "y_c") if op_type == "LSTM" else ("y", "y_h")
    return op(
        name,
        op_type,
        ["x", "W", "R", "B"],
        {"x": _normal(steps, 2, size)},
        constants,
        outputs,
        14,
        hidden_size=hidden,
        direction=direction,
        **attributes,
    )


RNN = [
    _rnn("rnn_reverse", "RNN", 1, "reverse"),
    _rnn("gru_bidirectional_linear_before_reset", "GRU", 3, "bidirectional", linear_before_reset=1),
    _rnn("lstm_bidirectional", "LSTM", 4, "bidirectional"),
    _rnn("lstm_clip", "LSTM", 4, clip=0.5),
    # Past the TF table's UNROLLED_STEPS: the tf.while_loop path (short ones run unrolled).
    _rnn("gru_bidirectional_long_sequence", "GRU", 3, "bidirectional", steps=40),
]

CASES = RESIZE + CONV + POOL + DETECTION + RNN

# Where onnx's ReferenceEvaluator departs from the spec or cannot run a case, onnxruntime is the
# oracle instead: case name -> what the evaluator gets wrong.
ONNXRUNTIME_ORACLE = {
    "resize_opset10_nearest": "it misreads opset 10's (x, scales) inputs",
    "upsample_opset9_linear": "its Upsample implements nearest only",
    "conv_transpose_group": "its ConvTranspose has no groups",
    "max_pool_same_lower": "it sizes SAME_LOWER pools floor(in / stride); the spec says ceil(in / stride)",
    "nms_without_optional_inputs": "it needs every optional input",
    "roi_align_opset10_avg": "it ignores opset 10's output_half_pixel rule",
    "lstm_clip": "it ignores clip",
}

# case name -> why the framework cannot run it yet. Entries only shrink.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "torch": {},
    "tensorflow": {},
}
