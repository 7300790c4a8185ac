"""The ai.onnx.ml operators on numbers: Binarizer, ArrayFeatureExtractor, TreeEnsemble.

TreeEnsemble's trees are attributes, known while building (decoded in semantics/tree_ensemble.py,
as for the torch table): every sample walks its tree at once, one level per step, a fixed
sequence of gathers that traces into the tf.function.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.importers.semantics import tree_ensemble as rules
from toolkit.importers.tensorflow.ops import register

ML_DOMAIN = "ai.onnx.ml"


@register("Binarizer", since=1, domain=ML_DOMAIN)
def binarizer(x, *, threshold=0.0):
    return tf.cast(x > tf.cast(threshold, x.dtype), x.dtype)


@register("ArrayFeatureExtractor", since=1, domain=ML_DOMAIN)
def array_feature_extractor(x, y):
    # As onnxruntime (and onnx's reference): the selected last-axis elements, a vector as one row.
    selected = tf.gather(x, tf.reshape(tf.cast(y, tf.int64), [-1]), axis=-1)
    return tf.reshape(selected, [1, -1]) if x.shape.rank == 1 else selected


@register("TreeEnsemble", since=5, domain=ML_DOMAIN, check=rules.check)
def tree_ensemble(
    x, *, aggregate_function=1, leaf_targetids, leaf_weights, membership_values=None, n_targets=None,
    nodes_falseleafs, nodes_falsenodeids, nodes_featureids, nodes_hitrates=None,
    nodes_missing_value_tracks_true=None, nodes_modes, nodes_splits, nodes_trueleafs, nodes_truenodeids,
    post_transform=0, tree_roots,
):  # fmt: skip
    arrays = rules.node_tables(
        nodes_modes, nodes_featureids, nodes_splits, nodes_truenodeids, nodes_falsenodeids,
        nodes_trueleafs, nodes_falseleafs, nodes_missing_value_tracks_true, membership_values,
    )  # fmt: skip
    table = {name: tf.constant(array) for name, array in arrays.items()}
    table["split"], table["members"] = tf.cast(table["split"], x.dtype), tf.cast(table["members"], x.dtype)
    batch = tf.shape(x)[0]
    leaves = []
    for root in tree_roots:
        if rules.single_leaf(root, nodes_trueleafs, nodes_falseleafs, nodes_truenodeids, nodes_falsenodeids):
            leaves.append(tf.fill([batch], tf.constant(nodes_truenodeids[root], tf.int64)))
            continue
        steps = rules.depth(root, nodes_truenodeids, nodes_falsenodeids, nodes_trueleafs, nodes_falseleafs)
        leaves.append(_walk(x, root, steps, table))
    leaf = tf.stack(leaves, axis=1)  # [N, trees]
    weights = tf.gather(tf.cast(np.asarray(leaf_weights), x.dtype), leaf)
    targets = tf.gather(tf.constant(np.asarray(leaf_targetids, np.int64)), leaf)
    return _aggregate(weights, targets, n_targets, aggregate_function, len(tree_roots), x.dtype)


def _walk(x, root: int, steps: int, table: dict):
    """Every sample's leaf index in one tree: `steps` levels of compare-and-branch."""
    batch = tf.shape(x)[0]
    node = tf.fill([batch], tf.constant(root, tf.int64))
    leaf = tf.zeros([batch], tf.int64)
    done = tf.zeros([batch], tf.bool)
    for _ in range(steps):
        value = tf.gather(x, tf.gather(table["feature"], node), batch_dims=1)
        split, mode = tf.gather(table["split"], node), tf.gather(table["mode"], node)
        member = tf.reduce_any(value[:, None] == tf.gather(table["members"], node), axis=1)
        outcomes = tf.stack(
            [
                value <= split,
                value < split,
                value >= split,
                value > split,
                value == split,
                value != split,
                member,
            ],
            axis=1,
        )
        chosen = tf.gather(outcomes, mode, batch_dims=1) | (
            tf.math.is_nan(value) & tf.gather(table["tracks_true"], node)
        )
        following = tf.where(chosen, tf.gather(table["true"], node), tf.gather(table["false"], node))
        reached = (
            tf.where(chosen, tf.gather(table["true_leaf"], node), tf.gather(table["false_leaf"], node))
            & ~done
        )
        leaf = tf.where(reached, following, leaf)
        done = done | reached
        node = tf.where(done, node, following)
    return leaf


def _aggregate(weights, targets, n_targets: int, function: int, trees: int, dtype):
    """[N, trees] leaf weights into [N, n_targets] by target id, as aggregate_function says."""
    hit = tf.one_hot(targets, n_targets, on_value=True, off_value=False, dtype=tf.bool)  # [N, trees, targets]
    if function in (rules.SUM, rules.AVERAGE):
        result = tf.reduce_sum(tf.where(hit, weights[..., None], tf.zeros([], dtype)), axis=1)
        return result / trees if function == rules.AVERAGE else result
    if function == rules.MIN:
        return tf.reduce_min(tf.where(hit, weights[..., None], dtype.max), axis=1)
    return tf.reduce_max(tf.where(hit, weights[..., None], dtype.min), axis=1)
