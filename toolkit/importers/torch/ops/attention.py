"""FlexAttention (ai.onnx.preview): scaled dot-product attention with score and probability modifiers.

As the spec (and onnx's reference): Q and K are each scaled by sqrt(scale) in Q's dtype before the
product, the softmax runs in softmax_precision (float32 unless the inputs are double), score_mod and
prob_mod are subgraphs applied to the scores and the probabilities, and query head h reads K/V head
h // (q_heads / kv_heads) (grouped-query attention).
"""

from __future__ import annotations

import math

import torch
from onnx import TensorProto

from toolkit.importers.torch.ops.support import TORCH_DTYPES, NeedsValues, dims, register

PREVIEW_DOMAIN = "ai.onnx.preview"


def _check(attributes, context):
    shapes = [info.shape if info is not None else None for info in context.inputs[:3]]
    if any(shape is not None and len(shape) != 4 for shape in shapes):
        return "FlexAttention needs rank-4 Q, K and V"
    q_heads, kv_heads = (shape[1] if shape is not None else None for shape in shapes[:2])
    if isinstance(q_heads, int) and isinstance(kv_heads, int) and q_heads % kv_heads:
        return f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads"
    return ""


@register("FlexAttention", since=1, domain=PREVIEW_DOMAIN, check=_check)
def flex_attention(q, k, v, *, prob_mod=None, scale=None, score_mod=None, softmax_precision=None):
    q_heads, head_size, kv_heads = dims(q)[1], dims(q)[-1], dims(k)[1]  # they decide the plan
    if None in (q_heads, head_size, kv_heads):
        raise NeedsValues("FlexAttention's head counts and head size vary between calls")
    if scale is None:
        scale = 1.0 / math.sqrt(head_size)
    groups = q_heads // kv_heads
    if groups != 1:
        k, v = torch.repeat_interleave(k, groups, dim=1), torch.repeat_interleave(v, groups, dim=1)
    root = torch.tensor(math.sqrt(float(torch.tensor(scale, dtype=torch.float32))), dtype=q.dtype)
    scores = torch.matmul(q * root, (k * root).transpose(-1, -2))
    default = TensorProto.DOUBLE if q.dtype == torch.float64 else TensorProto.FLOAT
    compute = TORCH_DTYPES[softmax_precision or default]
    scores = scores.to(compute)
    if score_mod is not None:
        (scores,) = score_mod(scores)
    probabilities = torch.softmax(scores.to(compute), dim=-1)
    if prob_mod is not None:
        (probabilities,) = prob_mod(probabilities)
    return torch.matmul(probabilities.to(compute), v.to(compute)).to(v.dtype)
