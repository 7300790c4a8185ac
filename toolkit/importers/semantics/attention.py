"""FlexAttention's rules (ai.onnx.preview), written once for both operator tables.

As the spec and onnx's reference: Q and K are each scaled by sqrt(scale) in Q's dtype before their
product (scale defaults to 1/sqrt(head_size), its root taken in float32); the scores, score_mod, the
softmax, prob_mod and the product with V run in softmax_precision (float32 unless the inputs are
double); query head h reads K/V head h // (q_heads / kv_heads) (grouped-query attention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto


@dataclass(frozen=True)
class FlexPlan:
    groups: int  # query heads per K/V head: K and V are repeated this many times along the heads
    root_scale: float  # sqrt(scale), as float32 computes it, to multiply Q and K by
    softmax_type: int  # the ONNX element type the softmax runs in


def check(attributes, context) -> str:
    """The tables' up-front check: rank-4 Q, K, V, query heads a multiple of the K/V heads."""
    shapes = [info.shape if info is not None else None for info in context.inputs[:3]]
    if any(shape is not None and len(shape) != 4 for shape in shapes):
        return "FlexAttention needs rank-4 Q, K and V"
    q_heads, kv_heads = (shape[1] if shape is not None else None for shape in shapes[:2])
    if isinstance(q_heads, int) and isinstance(kv_heads, int) and q_heads % kv_heads:
        return f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads"
    return ""


def plan(
    q_heads: int, kv_heads: int, head_size: int, scale, softmax_precision, inputs_double: bool
) -> FlexPlan:
    scale = 1.0 / math.sqrt(head_size) if scale is None else scale
    default = TensorProto.DOUBLE if inputs_double else TensorProto.FLOAT
    return FlexPlan(q_heads // kv_heads, float(np.sqrt(np.float32(scale))), softmax_precision or default)
