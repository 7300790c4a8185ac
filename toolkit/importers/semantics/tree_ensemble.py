"""ai.onnx.ml TreeEnsemble: the node tables as numpy arrays, each tree's depth, and the check.

Both tables walk every sample down a tree at once, one level per step (as many steps as the
deepest tree), with these tables as tensors: a fixed sequence of gathers and comparisons that
traces. What is framework-neutral (the attribute decoding) lives here.
"""

from __future__ import annotations

import math

import numpy as np

# ONNX TreeEnsemble: nodes_modes values, and aggregate_function values.
LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = range(7)
AVERAGE, SUM, MIN, MAX = range(4)


def check(attributes, context) -> str:
    if attributes.get("post_transform", 0) != 0:
        return "post_transform other than NONE is not supported"
    if attributes.get("aggregate_function", 1) not in (AVERAGE, SUM, MIN, MAX):
        return f"aggregate_function={attributes['aggregate_function']} is not defined"
    return ""


def members(modes, membership_values) -> np.ndarray:
    """Per node its set (NaN-padded rows); ONNX lists the MEMBER nodes' sets in order, NaN-separated."""
    sets, current = [], []
    for value in np.asarray(membership_values if membership_values is not None else [], np.float64):
        if math.isnan(value):
            sets.append(current)
            current = []
        else:
            current.append(value)
    table = np.full((len(modes), max((len(s) for s in sets), default=0) or 1), np.nan)
    for node, node_members in zip(np.flatnonzero(np.asarray(modes) == MEMBER), sets, strict=False):
        table[node, : len(node_members)] = node_members
    return table


def depth(root, true_ids, false_ids, true_leafs, false_leafs) -> int:
    deepest, pending = 0, [(root, 1)]
    while pending:
        node, level = pending.pop()
        deepest = max(deepest, level)
        for child, is_leaf in ((true_ids[node], true_leafs[node]), (false_ids[node], false_leafs[node])):
            if not is_leaf:
                pending.append((child, level + 1))
    return deepest


def node_tables(
    modes,
    featureids,
    splits,
    truenodeids,
    falsenodeids,
    trueleafs,
    falseleafs,
    missing_tracks_true,
    membership,
) -> dict[str, np.ndarray]:
    """The per-node attributes as arrays, by the names the walks use."""
    modes = np.asarray(modes).astype(np.int64)
    return {
        "feature": np.asarray(featureids, np.int64),
        "split": np.asarray(splits),
        "mode": modes,
        "true": np.asarray(truenodeids, np.int64),
        "false": np.asarray(falsenodeids, np.int64),
        "true_leaf": np.asarray(trueleafs, bool),
        "false_leaf": np.asarray(falseleafs, bool),
        "tracks_true": np.asarray(missing_tracks_true or [0] * len(modes), bool),
        "members": members(modes, membership),
    }


def single_leaf(root, trueleafs, falseleafs, truenodeids, falsenodeids) -> bool:
    """A tree that is one leaf: its root's two branches are the same leaf."""
    return bool(trueleafs[root] and falseleafs[root] and truenodeids[root] == falsenodeids[root])
