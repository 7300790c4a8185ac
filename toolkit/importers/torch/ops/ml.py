"""The ai.onnx.ml operators on numbers: Binarizer, ArrayFeatureExtractor, TreeEnsemble.

TreeEnsemble's trees are attributes, known while building: every sample walks its tree at once, one
level per step (as many steps as the deepest tree), with the node tables as tensors, so the walk is
a fixed sequence of gathers and comparisons that traces.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from toolkit.importers.torch.dtypes import to_torch
from toolkit.importers.torch.ops.table import register

ML_DOMAIN = "ai.onnx.ml"


@register("Binarizer", since=1, domain=ML_DOMAIN)
def binarizer(x, *, threshold=0.0):
    return (x > threshold).to(x.dtype)


@register("ArrayFeatureExtractor", since=1, domain=ML_DOMAIN)
def array_feature_extractor(x, y):
    # As onnxruntime (and onnx's reference): the selected last-axis elements, a vector as one row.
    selected = torch.index_select(x, -1, y.reshape(-1).to(torch.int64))
    return selected.reshape(1, -1) if x.dim() == 1 else selected


# ONNX TreeEnsemble: nodes_modes values, and aggregate_function values.
_LEQ, _LT, _GTE, _GT, _EQ, _NEQ, _MEMBER = range(7)
_AVERAGE, _SUM, _MIN, _MAX = range(4)


def _tree_check(attributes, context):
    if attributes.get("post_transform", 0) != 0:
        return "post_transform other than NONE is not supported"
    if attributes.get("aggregate_function", 1) not in (_AVERAGE, _SUM, _MIN, _MAX):
        return f"aggregate_function={attributes['aggregate_function']} is not defined"
    return ""


def _members(modes, membership_values) -> np.ndarray:
    """Per node its set (NaN-padded rows); ONNX lists the MEMBER nodes' sets in order, NaN-separated."""
    sets, current = [], []
    for value in np.asarray(membership_values if membership_values is not None else [], np.float64):
        if math.isnan(value):
            sets.append(current)
            current = []
        else:
            current.append(value)
    table = np.full((len(modes), max((len(s) for s in sets), default=0) or 1), np.nan)
    for node, members in zip(np.flatnonzero(np.asarray(modes) == _MEMBER), sets, strict=False):
        table[node, : len(members)] = members
    return table


def _depth(root, true_ids, false_ids, true_leafs, false_leafs) -> int:
    deepest, pending = 0, [(root, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        for child, is_leaf in ((true_ids[node], true_leafs[node]), (false_ids[node], false_leafs[node])):
            if not is_leaf:
                pending.append((child, depth + 1))
    return deepest


@register("TreeEnsemble", since=5, domain=ML_DOMAIN, check=_tree_check)
def tree_ensemble(
    x, *, aggregate_function=1, leaf_targetids, leaf_weights, membership_values=None, n_targets=None,
    nodes_falseleafs, nodes_falsenodeids, nodes_featureids, nodes_hitrates=None,
    nodes_missing_value_tracks_true=None, nodes_modes, nodes_splits, nodes_trueleafs, nodes_truenodeids,
    post_transform=0, tree_roots,
):  # fmt: skip
    modes = np.asarray(nodes_modes).astype(np.int64)
    count = len(modes)
    tracks_true = np.asarray(nodes_missing_value_tracks_true or [0] * count, bool)
    table = {
        "feature": to_torch(np.asarray(nodes_featureids, np.int64)),
        "split": to_torch(np.asarray(nodes_splits)).to(x.dtype),
        "mode": to_torch(modes),
        "true": to_torch(np.asarray(nodes_truenodeids, np.int64)),
        "false": to_torch(np.asarray(nodes_falsenodeids, np.int64)),
        "true_leaf": to_torch(np.asarray(nodes_trueleafs, bool)),
        "false_leaf": to_torch(np.asarray(nodes_falseleafs, bool)),
        "tracks_true": to_torch(tracks_true),
        "members": to_torch(_members(modes, membership_values)).to(x.dtype),
    }
    weights = to_torch(np.asarray(leaf_weights)).to(x.dtype)
    targets = to_torch(np.asarray(leaf_targetids, np.int64))
    batch = x.shape[0]
    leaves = []
    for root in tree_roots:
        # A tree that is one leaf: its root's two branches are the same leaf.
        if (
            nodes_trueleafs[root]
            and nodes_falseleafs[root]
            and nodes_truenodeids[root] == nodes_falsenodeids[root]
        ):
            leaves.append(torch.full((batch,), nodes_truenodeids[root], dtype=torch.int64))
            continue
        steps = _depth(root, nodes_truenodeids, nodes_falsenodeids, nodes_trueleafs, nodes_falseleafs)
        leaves.append(_walk(x, root, steps, table))
    leaf = torch.stack(leaves, dim=1)  # [N, trees]
    return _aggregate(weights[leaf], targets[leaf], n_targets, aggregate_function, len(tree_roots), x.dtype)


def _walk(x, root: int, steps: int, table: dict):
    """Every sample's leaf index in one tree: `steps` levels of compare-and-branch."""
    batch = x.shape[0]
    node = torch.full((batch,), root, dtype=torch.int64)
    leaf = torch.zeros((batch,), dtype=torch.int64)
    done = torch.zeros((batch,), dtype=torch.bool)
    rows = torch.arange(batch)
    for _ in range(steps):
        value = x[rows, table["feature"][node]]
        split, mode = table["split"][node], table["mode"][node]
        member = (value[:, None] == table["members"][node]).any(dim=1)
        outcomes = torch.stack(
            [
                value <= split,
                value < split,
                value >= split,
                value > split,
                value == split,
                value != split,
                member,
            ],
            dim=1,
        )
        chosen = outcomes.gather(1, mode[:, None]).squeeze(1) | (
            torch.isnan(value) & table["tracks_true"][node]
        )
        following = torch.where(chosen, table["true"][node], table["false"][node])
        reached = torch.where(chosen, table["true_leaf"][node], table["false_leaf"][node]) & ~done
        leaf = torch.where(reached, following, leaf)
        done = done | reached
        node = torch.where(done, node, following)
    return leaf


def _aggregate(weights, targets, n_targets: int, function: int, trees: int, dtype):
    """[N, trees] leaf weights into [N, n_targets] by target id, as aggregate_function says."""
    batch = weights.shape[0]
    if function in (_SUM, _AVERAGE):
        result = torch.zeros((batch, n_targets), dtype=dtype).scatter_add(1, targets, weights)
        return result / trees if function == _AVERAGE else result
    finfo = torch.finfo(dtype)
    start = torch.full((batch, n_targets), finfo.max if function == _MIN else finfo.min, dtype=dtype)
    return start.scatter_reduce(1, targets, weights, reduce="amin" if function == _MIN else "amax")
