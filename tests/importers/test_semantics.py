"""The framework-neutral plans of importers/semantics/, on their own (no framework imported).

Each case where the two tables once computed a rule differently has a test through both importers
in cases.py; these pin the rule itself.
"""

import numpy as np
import pytest

from toolkit.importers.semantics import conv, detection, resize


def test_resize_leaves_a_dynamic_batch_alone():
    # x.shape[:2] + (14, 18) with the batch unknown: only the spatial axes are resized.
    plan = resize.plan([None, 3, 7, 9], None, None, [3, 14, 18], axes=[1, 2, 3])
    assert [(a.axis, a.input_size, a.output_size) for a in plan] == [(2, 7, 14), (3, 9, 18)]
    plan = resize.plan([None, 3, 7, 9], None, np.array([1, 1, 2, 0.5], np.float32), None)
    assert [(a.axis, a.output_size, a.scale) for a in plan] == [(2, 14, 2.0), (3, 4, 0.5)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("stretch", [(12 / 7, 12), (12 / 9, 12)]),
        ("not_larger", [(4 / 3, 9), (4 / 3, 12)]),
        ("not_smaller", [(12 / 7, 12), (12 / 7, 15)]),
    ],
)
def test_resize_keep_aspect_ratio_policy(policy, expected):
    # ONNX Resize opset 18: one scale for every axis, output = round(scale * input).
    got = resize.scales_and_sizes([7, 9], None, [12, 12], policy)
    assert [size for _, size in got] == [size for _, size in expected]
    assert [scale for scale, _ in got] == pytest.approx([scale for scale, _ in expected])


def test_resize_weights_rows_sum_to_one_and_match_the_reference():
    from onnx.reference.ops import op_resize

    axis = resize.Axis(0, 7, 4, 4 / 7)
    weights = resize.axis_weights(axis, resize.Interpolation(mode="cubic", antialias=1)).matrix
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # onnx's reference 1-D interpolation applied to the identity gives its weight matrix.
    reference = op_resize._interpolate_1d_along_axis(
        np.eye(7),
        0,
        4 / 7,
        4,
        lambda ratio, scale: op_resize._cubic_coeffs_antialias(ratio, scale, A=-0.75),
        roi=None,
        coordinate_transformation_mode="half_pixel",
        exclude_outside=False,
    )
    np.testing.assert_allclose(weights, reference, atol=1e-12)


def test_pool_ceil_mode_pads_the_end_but_the_average_does_not_count_it():
    window = conv.pool_window([3], [2], None, "NOTSET", [1, 1], [6], ceil_mode=1, count_include_pad=1)
    # ceil((6 + 2 - 3) / 2) + 1 = 4 windows; the last starts at 6 (inside input + begin pad 7).
    assert window.pads == [(1, 2)] and window.counted == [(1, 1)] and conv.uncounted(window) == [(0, 1)]
    assert conv.output_sizes([6], window) == [4]


def test_same_lower_puts_the_odd_pad_first():
    assert conv.window([3], [2], None, "SAME_LOWER", None, [6]).pads == [(1, 0)]
    assert conv.window([3], [2], None, "SAME_UPPER", None, [6]).pads == [(0, 1)]
    assert conv.window([3], [2], None, "SAME_UPPER", None, [None]).pads is None  # the framework's SAME


def test_conv_transpose_keeps_output_padding_with_an_output_shape():
    # ONNX ConvTranspose: full (3 - 1) * 3 + 3 = 9, + output_padding 1 = 10 = output_shape: no crop.
    assert conv.conv_transpose_crops([3], [3], [3], None, [1], [10]) == [(0, 0, 1)]
    assert conv.conv_transpose_crops([3], [3], [2], None, None, None, "SAME_LOWER") == [(1, 0, 0)]
    assert conv.conv_transpose_crops([3], [3], [2], None, [1], None, "NOTSET", [1, 2]) == [(1, 2, 1)]


def test_nms_corner_formats_agree():
    centre = np.array([[2.0, 3.0, 4.0, 2.0]])
    corners = np.array([[4.0, 4.0, 2.0, 0.0]])  # [y1, x1, y2, x2], the other diagonal
    expected = [0.0, 2.0, 4.0, 4.0]
    assert [float(v[0]) for v in detection.corners(centre, 1, np.minimum, np.maximum)] == expected
    assert [float(v[0]) for v in detection.corners(corners, 0, np.minimum, np.maximum)] == expected


def test_roi_align_bins_follow_the_transformation_mode():
    common = dict(
        spatial_scale=0.5, output_height=2, output_width=4, sampling_ratio=0, maximum=max, ceil=np.ceil
    )
    start, size, samples = detection.roi_bins(1.0, 1.0, 2.0, 9.0, half_pixel=True, **common)
    assert start == (0.0, 0.0) and size == (0.125, 2.0) and samples == (1, 2)
    start, size, samples = detection.roi_bins(1.0, 1.0, 2.0, 9.0, half_pixel=False, **common)
    assert start == (0.5, 0.5) and size == (0.25, 2.0)  # output_half_pixel: at least one pixel wide


def test_reshape_target_from_shapes_resolves_to_constants():
    from toolkit.importers.semantics.shapes import Monomial, product, reshaped_dims, static_target

    assert product(["batch", 4]) == Monomial(4, ("batch",))
    assert product(["batch", 1]) == "batch" and product([2, 8]) == 16
    assert product(["batch", None]) is None
    # tf2onnx's einsum: [batch * 4, -1, 16] of data [batch, 4, 1, 8, 16] is [-1, 8, 16].
    assert static_target(["batch", 4, 1, 8, 16], [Monomial(4, ("batch",)), -1, 16]) == [-1, 8, 16]
    assert static_target(["batch", 16, 32], ["batch", 16, 4, 8]) == [-1, 16, 4, 8]
    # Two batches that cannot be told apart, a copied dim (0), or a remainder: left to the handler.
    assert static_target(["a", "b", 8], ["a", -1, 8]) is None
    assert static_target(["batch", 16], [0, -1]) is None
    assert static_target(["batch", 4, 6], [Monomial(4, ("batch",)), -1, 5]) is None
    assert reshaped_dims(["batch", 16, 32], [-1, 16, 4, 8]) == ["batch", 16, 4, 8]
    assert reshaped_dims(["batch", 4, 1, 8, 16], [-1, 8, 16]) == [Monomial(4, ("batch",)), 8, 16]


def test_flatten_fold_keeps_batch_first_flattens_only():
    from toolkit.importers.semantics import flatten

    weight = np.arange(60 * 2, dtype=np.float32).reshape(60, 2)
    # NHWC held [N, 4, 5, 3] flattened as NCHW: the rows go from (c, h, w) to (h, w, c) order.
    rows = flatten.fold([None, 4, 5, 3], (0, 3, 1, 2), [-1, 60], 60)
    assert rows == ((3, 4, 5), (1, 2, 0))
    split, perm = flatten.weight_layout(*rows, 2)
    stored = flatten.stored_weight(weight, split, perm)
    held = np.arange(4 * 5 * 3).reshape(1, 4, 5, 3)
    onnx_flat = np.transpose(held, (0, 3, 1, 2)).reshape(1, 60)
    np.testing.assert_array_equal(held.reshape(1, 60) @ stored, onnx_flat @ weight)
    assert flatten.fold([None, 4, 5, 3], (1, 0, 2, 3), [-1, 60], 60) is None  # batch axis moved
    assert flatten.fold([None, 4, 5, 3], (0, 3, 1, 2), [-1, 12], 60) is None  # not a flatten
