"""Fold the attention ONNX spells out op by op into one `F.scaled_dot_product_attention` call.

torch.onnx writes `F.scaled_dot_product_attention` as MatMul(q·√s, kᵀ·√s) → Add(mask) → Softmax
→ Where(IsNaN(p), 0, p) → MatMul(p, v), with kᵀ as Reshape → Transpose → Reshape; other exporters
write MatMul(q, kᵀ) → Div(√d) → Add(mask) → Softmax → MatMul. Run node by node, torch materialises
the [batch, heads, L, S] scores three or four times; the fused kernel never does. The fold applies
only where the ONNX graph computes what the kernel does:
- q, k and v have rank 4 and a float type; the scale factors are constant scalars;
- the mask, if any, is added to the scores and does not broadcast them to a larger shape (one that
  is Where(all-True constant, 0, _), ViT's absent mask, is dropped);
- with a mask, the probabilities go through the IsNaN → 0 guard: the kernel (like torch's
  `_safe_softmax`) gives 0, not NaN, for a row whose every score is masked. Without a mask a row
  is only all -inf when q or k holds infinities, where the two may differ (NaN against 0).
Parameters are untouched: nothing for `parameter_map` to record.
"""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F  # noqa: N812

from toolkit.importers.torch.fold_patterns import (
    constant_array,
    constant_scalar,
    eliminate_dead_code,
    is_function,
    is_method,
    only_user,
    rank_of,
    same_dim,
)

_FLOAT_TYPES = (1, 10, 11, 16)  # ONNX FLOAT, FLOAT16, DOUBLE, BFLOAT16


def fold_attention(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with each matched attention pattern as one scaled_dot_product_attention (in place)."""
    graph = module.graph
    erased: set[torch.fx.Node] = set()
    for output in list(graph.find_nodes(op="call_function", target=torch.matmul)):
        if output in erased:  # the scores of an earlier match
            continue
        found = _attention(module, output)
        if found is None:
            continue
        q, k, v, mask, scale, matched = found
        with graph.inserting_before(output):
            if k is None:  # the graph's kᵀ, whatever made it: the kernel takes k
                k = graph.call_method("transpose", (matched.key_transposed, -2, -1))
            fused = graph.call_function(
                F.scaled_dot_product_attention, (q, k, v), {"attn_mask": mask, "scale": scale}
            )
        fused.meta.update(output.meta)
        output.replace_all_uses_with(fused)
        name = output.name
        for node in dict.fromkeys(matched.erasable(output)):
            if not node.users:
                graph.erase_node(node)
                erased.add(node)
        fused._rename(name)  # the ONNX MatMul's name, free once it is erased
    if erased:
        eliminate_dead_code(graph)  # a dropped all-zero mask's Where and expand
    return module


class _Match:
    """The nodes of one attention pattern, last first, and the kᵀ the scores read."""

    def __init__(self):
        self.nodes: list[torch.fx.Node] = []
        self.key_transposed: torch.fx.Node | None = None

    def erasable(self, output: torch.fx.Node) -> list[torch.fx.Node]:
        return [output, *self.nodes]


def _attention(module, output: torch.fx.Node):
    """(q, k or None, v, mask, scale, match) when `output` = MatMul(softmax(scores), v) folds."""
    if len(output.args) != 2 or output.kwargs:
        return None
    probabilities, v = output.args
    match = _Match()
    guarded = False
    # Where(IsNaN(p), 0, p): the guard torch.onnx writes for `_safe_softmax`.
    if is_function(probabilities, torch.where) and len(probabilities.args) == 3:
        condition, zero, kept = probabilities.args
        if not (
            only_user(probabilities, output)
            and is_function(condition, torch.isnan)
            and condition.args[0] is kept
            and constant_scalar(module, zero) == 0.0
            and set(kept.users) == {condition, probabilities}
            and set(condition.users) == {probabilities}
        ):
            return None
        match.nodes += [probabilities, condition]
        probabilities, guarded = kept, True
    elif not only_user(probabilities, output):
        return None
    softmax = probabilities
    if not (is_function(softmax, torch.softmax) and _last_axis(softmax)):
        return None
    match.nodes.append(softmax)
    scores = softmax.args[0]
    mask = None
    if is_function(scores, torch.add) and len(scores.args) == 2 and only_user(scores, softmax):
        left, right = scores.args
        product = left if _is_matmul(left) else right
        mask = right if product is left else left
        if not (isinstance(mask, torch.fx.Node) and _fits_within(mask, product, scores)):
            return None
        match.nodes.append(scores)
        scores, user = product, scores
    else:
        user = softmax
    if mask is not None and _always_zero(module, mask):
        mask = None  # adds 0.0 to every score: no mask at all, and the kernel's faster path
    elif mask is not None and not guarded:
        return None  # masked-out rows: NaN in ONNX, 0 from the kernel
    scale = 1.0
    # MatMul(q, kᵀ) → Mul/Div by a constant: the older exporters' scaling.
    if (is_function(scores, torch.mul) or is_function(scores, torch.div)) and only_user(scores, user):
        factor = constant_scalar(module, scores.args[1])
        if factor is None or not _is_matmul(scores.args[0]):
            return None
        scale = 1.0 / factor if is_function(scores, torch.div) else factor
        match.nodes.append(scores)
        scores, user = scores.args[0], scores
    if not (_is_matmul(scores) and only_user(scores, user)):
        return None
    match.nodes.append(scores)
    q, key_transposed = scores.args
    q, q_scale = _unscaled(module, q, scores, match)
    key_transposed, k_scale = _unscaled(module, key_transposed, scores, match)
    if not all(rank_of(t) == 4 and _is_float(t) for t in (q, key_transposed, v)):
        return None
    match.key_transposed = key_transposed
    k = _untransposed(key_transposed, match)
    return q, k, v, mask, float(scale * q_scale * k_scale), match


def _is_matmul(node) -> bool:
    return is_function(node, torch.matmul) and len(node.args) == 2 and not node.kwargs


def _last_axis(softmax: torch.fx.Node) -> bool:
    axis = softmax.kwargs.get("dim", softmax.args[1] if len(softmax.args) > 1 else None)
    return axis == -1 or (axis == 3 and rank_of(softmax.args[0]) == 4)


def _is_float(node) -> bool:
    info = node.meta.get("onnx_value") if isinstance(node, torch.fx.Node) else None
    return info is not None and info.element_type in _FLOAT_TYPES


def _fits_within(mask: torch.fx.Node, scores: torch.fx.Node, total: torch.fx.Node) -> bool:
    """The mask broadcasts to the scores' shape without enlarging it (SDPA's attn_mask rule)."""
    mask_info, scores_info, total_info = (n.meta.get("onnx_value") for n in (mask, scores, total))
    if None in (mask_info, scores_info, total_info) or None in (mask_info.shape, scores_info.shape):
        return False
    if not _is_float(mask) or len(mask_info.shape) > 4 or mask_info.element_type != scores_info.element_type:
        return False
    if total_info.shape is not None and tuple(total_info.shape) == tuple(scores_info.shape):
        return all(d is not None for d in scores_info.shape)
    # Shape inference left the sum's dims unnamed: every mask dim is 1 or the scores' own.
    return all(m == 1 or m == s for m, s in zip(mask_info.shape[::-1], scores_info.shape[::-1], strict=False))


def _always_zero(module, mask: torch.fx.Node) -> bool:
    """The mask is Where(c, 0, _) with c a constant that is True everywhere (torch.onnx writes ViT's
    absent mask so), through any expand or reshape."""
    if not (is_function(mask, torch.where) and len(mask.args) == 3):
        return False
    condition, chosen = mask.args[0], mask.args[1]
    if constant_scalar(module, chosen) != 0.0:
        return False
    while (
        is_method(condition, "expand") or is_method(condition, "reshape") or is_method(condition, "unsqueeze")
    ):
        condition = condition.args[0]
    values = constant_array(module, condition)
    return values is not None and values.dtype == bool and bool(values.all())


def _unscaled(module, node, scores, match: _Match):
    """(x, c) for node = Mul(x, c) with c a constant scalar read only here, else (node, 1.0)."""
    if is_function(node, torch.mul) and len(node.args) == 2 and only_user(node, scores):
        for value, factor in (node.args, node.args[::-1]):
            scalar = constant_scalar(module, factor)
            if scalar is not None and isinstance(value, torch.fx.Node):
                match.nodes.append(node)
                return value, scalar
    return node, 1.0


def _untransposed(key_transposed: torch.fx.Node, match: _Match):
    """k when kᵀ is a provable transpose of the last two axes of a rank-4 k (the nodes join the match)."""
    node = key_transposed
    if len(node.users) != 1:
        return None
    if is_method(node, "permute") and tuple(_permutation(node)) == (0, 1, 3, 2):
        match.nodes.append(node)
        return node.args[0]
    if is_method(node, "transpose") and sorted(a % 4 for a in node.args[1:3]) == [2, 3]:
        match.nodes.append(node)
        return node.args[0]
    # torch.onnx: k [B, H, S, D] → Reshape [-1, S, D] → Transpose (0, 2, 1) → Reshape [B, H, D, S].
    last = node
    if not is_method(last, "reshape"):
        return None
    permute = last.args[0]
    if not (is_method(permute, "permute") and tuple(_permutation(permute)) == (0, 2, 1)):
        return None
    first = permute.args[0]
    if not (is_method(first, "reshape") and len(permute.users) == 1 and len(first.users) == 1):
        return None
    k = first.args[0]
    inner, outer = _target(first), _target(last)
    if rank_of(k) != 4 or inner is None or outer is None or len(inner) != 3 or len(outer) != 4:
        return None
    if inner[0] != -1:
        return None
    expected = ((inner[1], 2), (inner[2], 3), (outer[0], 0), (outer[1], 1), (outer[2], 3), (outer[3], 2))
    if not all(same_dim(value, k, axis) for value, axis in expected):
        return None
    match.nodes += [last, permute, first]
    match.nodes += [v for v in (*inner, *outer) if is_method(v, "size")]  # dead once the chain is
    return k


def _permutation(node: torch.fx.Node):
    args = node.args[1:]
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else tuple(args)


def _target(node: torch.fx.Node):
    args = node.args[1:]
    target = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    return tuple(target)
