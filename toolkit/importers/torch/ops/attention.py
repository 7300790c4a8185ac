"""FlexAttention (ai.onnx.preview): scaled dot-product attention with score and probability modifiers.

The plan (scale, grouped-query heads, softmax precision) is ONNX's rule in
`importers.semantics.attention`, shared with the TensorFlow table; score_mod and prob_mod arrive
as subgraphs, applied to the scores and the probabilities.
"""

from __future__ import annotations

import torch

from toolkit.importers.semantics import attention as rules
from toolkit.importers.torch.dtypes import TORCH_DTYPES
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, dims

PREVIEW_DOMAIN = "ai.onnx.preview"


@register("FlexAttention", since=1, domain=PREVIEW_DOMAIN, check=rules.check)
def flex_attention(q, k, v, *, prob_mod=None, scale=None, score_mod=None, softmax_precision=None):
    q_heads, head_size, kv_heads = dims(q)[1], dims(q)[-1], dims(k)[1]  # they decide the plan
    if None in (q_heads, head_size, kv_heads):
        raise NeedsValues("FlexAttention's head counts and head size vary between calls")
    plan = rules.plan(q_heads, kv_heads, head_size, scale, softmax_precision, q.dtype == torch.float64)
    if plan.groups != 1:
        k, v = (torch.repeat_interleave(t, plan.groups, dim=1) for t in (k, v))
    root = torch.tensor(plan.root_scale, dtype=torch.float32).to(q.dtype)
    compute = TORCH_DTYPES[plan.softmax_type]
    scores = torch.matmul(q * root, (k * root).transpose(-1, -2)).to(compute)
    if score_mod is not None:
        (scores,) = score_mod(scores)
    probabilities = torch.softmax(scores.to(compute), dim=-1)
    if prob_mod is not None:
        (probabilities,) = prob_mod(probabilities)
    return torch.matmul(probabilities.to(compute), v.to(compute)).to(v.dtype)
