"""The ai.onnx.ml operators on numbers: Binarizer, ArrayFeatureExtractor, TreeEnsemble.

TreeEnsemble's trees are attributes, known while building (decoded in semantics/tree_ensemble.py):
every sample walks its tree at once, one level per step, a fixed sequence of gathers that traces.
"""

from __future__ import annotations

import numpy as np
import torch

from toolkit.importers.semantics import tree_ensemble as rules
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
    table = {name: to_torch(array) for name, array in arrays.items()}
    table["split"], table["members"] = table["split"].to(x.dtype), table["members"].to(x.dtype)
    weights = to_torch(np.asarray(leaf_weights)).to(x.dtype)
    targets = to_torch(np.asarray(leaf_targetids, np.int64))
    batch = x.shape[0]
    leaves = []
    for root in tree_roots:
        if rules.single_leaf(root, nodes_trueleafs, nodes_falseleafs, nodes_truenodeids, nodes_falsenodeids):
            leaves.append(torch.full((batch,), nodes_truenodeids[root], dtype=torch.int64))
            continue
        steps = rules.depth(root, nodes_truenodeids, nodes_falsenodeids, nodes_trueleafs, nodes_falseleafs)
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
    if function in (rules.SUM, rules.AVERAGE):
        result = torch.zeros((batch, n_targets), dtype=dtype).scatter_add(1, targets, weights)
        return result / trees if function == rules.AVERAGE else result
    finfo = torch.finfo(dtype)
    start = torch.full((batch, n_targets), finfo.max if function == rules.MIN else finfo.min, dtype=dtype)
    return start.scatter_reduce(1, targets, weights, reduce="amin" if function == rules.MIN else "amax")
