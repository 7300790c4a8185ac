"""A two-layer Transformer encoder (d_model 64) over token ids with a padding mask (True = padding)."""

from __future__ import annotations

import numpy as np

FRAMEWORK = "torch"
INPUT_NAMES = ("token_ids", "padding_mask")
SEED = 4
VOCABULARY = 100
SEQUENCE_LENGTH = 16


def build():
    import torch
    from torch import nn

    class TransformerClassifier(nn.Module):
        def __init__(self, d_model=64, num_classes=4):
            super().__init__()
            self.embedding = nn.Embedding(VOCABULARY, d_model)
            self.positions = nn.Parameter(torch.randn(1, SEQUENCE_LENGTH, d_model) * 0.1)
            layer = nn.TransformerEncoderLayer(
                d_model, nhead=4, dim_feedforward=128, dropout=0.0, batch_first=True
            )
            # enable_nested_tensor=False: the nested-tensor fast path is not traceable by the exporters.
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.head = nn.Linear(d_model, num_classes)

        def forward(self, token_ids, padding_mask):
            length = token_ids.shape[1]
            x = self.embedding(token_ids) + self.positions[:, :length]
            x = self.encoder(x, src_key_padding_mask=padding_mask)
            keep = (~padding_mask).unsqueeze(-1).to(x.dtype)
            pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            return self.head(pooled)

    torch.manual_seed(SEED)
    return TransformerClassifier().eval()


def example_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    token_ids = rng.integers(1, VOCABULARY, size=(2, SEQUENCE_LENGTH), dtype=np.int64)
    lengths = np.array([SEQUENCE_LENGTH, 10])
    padding_mask = np.arange(SEQUENCE_LENGTH)[None, :] >= lengths[:, None]
    token_ids[padding_mask] = 0
    return token_ids, padding_mask
