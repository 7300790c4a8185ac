"""Detection operators: NonMaxSuppression on TF's own NMS kernel, one (batch, class) pair per row."""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers.semantics import detection as rules
from toolkit.importers.tensorflow.ops import register


def _scalar(value, default, dtype):
    if value is None or (value.shape.rank and value.shape.num_elements() == 0):
        return tf.constant(default, dtype)
    return tf.cast(tf.reshape(value, []), dtype)


@register("NonMaxSuppression", since=10, check=rules.nms_check)
def non_max_suppression(
    boxes,
    scores,
    max_output_boxes_per_class=None,
    iou_threshold=None,
    score_threshold=None,
    *,
    center_point_box=0,
):
    x_min, y_min, x_max, y_max = rules.corners(
        tf.cast(boxes, tf.float32), center_point_box, tf.minimum, tf.maximum
    )
    boxes = tf.stack([y_min, x_min, y_max, x_max], axis=-1)
    scores = tf.cast(scores, tf.float32)
    batches, classes, count = tf.shape(scores)[0], tf.shape(scores)[1], tf.shape(scores)[2]
    default_limit, default_iou = (
        rules.NMS_DEFAULTS["max_output_boxes_per_class"],
        rules.NMS_DEFAULTS["iou_threshold"],
    )
    limit = tf.minimum(tf.maximum(_scalar(max_output_boxes_per_class, default_limit, tf.int32), 0), count)
    iou = _scalar(iou_threshold, default_iou, tf.float32)
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
