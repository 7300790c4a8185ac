"""Detection operators: NonMaxSuppression on TF's own NMS kernel, one (batch, class) pair per row."""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers.common import center_point_box_supported
from toolkit.importers.tensorflow.ops import register


def _corners(boxes, center_point_box):
    if not center_point_box:
        return boxes  # [y1, x1, y2, x2] in either corner order: TF's IoU takes min/max per axis
    # ONNX NonMaxSuppression center_point_box=1: [x_center, y_center, width, height]
    centre, size = boxes[..., :2], boxes[..., 2:]
    return tf.concat([centre - size / 2, centre + size / 2], axis=-1)


def _scalar(value, default, dtype):
    if value is None or (value.shape.rank and value.shape.num_elements() == 0):
        return tf.constant(default, dtype)
    return tf.cast(tf.reshape(value, []), dtype)


@register("NonMaxSuppression", since=10, check=center_point_box_supported)
def non_max_suppression(
    boxes,
    scores,
    max_output_boxes_per_class=None,
    iou_threshold=None,
    score_threshold=None,
    *,
    center_point_box=0,
):
    boxes = tf.cast(_corners(boxes, center_point_box), tf.float32)
    scores = tf.cast(scores, tf.float32)
    batches, classes, count = tf.shape(scores)[0], tf.shape(scores)[1], tf.shape(scores)[2]
    limit = tf.minimum(tf.maximum(_scalar(max_output_boxes_per_class, 0, tf.int32), 0), count)
    iou = _scalar(iou_threshold, 0.0, tf.float32)
    # ONNX keeps boxes scoring strictly above score_threshold, and filters none without it; so does TF's kernel.
    floor = _scalar(score_threshold, float("-inf"), tf.float32)
    rows = tf.range(batches * classes)

    def select(row):
        selected, _, valid = tf.raw_ops.NonMaxSuppressionV5(
            boxes=boxes[row // classes],
            scores=scores[row // classes, row % classes],
            max_output_size=limit,
            iou_threshold=iou,
            score_threshold=floor,
            soft_nms_sigma=0.0,
            pad_to_max_output_size=True,
        )
        return selected, valid

    selected, valid = tf.map_fn(
        select, rows, fn_output_signature=(tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32))
    )
    keep = tf.range(tf.shape(selected)[1])[None, :] < valid[:, None]
    row_of = tf.broadcast_to(rows[:, None], tf.shape(selected))
    triples = tf.stack([row_of // classes, row_of % classes, selected], axis=-1)
    return tf.cast(tf.boolean_mask(triples, keep), tf.int64)
