"""A sequence classifier over float features [batch, seq, feat]: an LSTM feeding a GRU (batch_first)."""

from __future__ import annotations

import numpy as np

FRAMEWORK = "torch"
INPUT_NAMES = ("sequence",)
SEED = 3


def build():
    import torch
    from torch import nn

    class RecurrentClassifier(nn.Module):
        def __init__(self, features=8, hidden=32, num_classes=5):
            super().__init__()
            self.lstm = nn.LSTM(features, hidden, batch_first=True)
            self.gru = nn.GRU(hidden, hidden, batch_first=True)
            self.head = nn.Linear(hidden, num_classes)

        def forward(self, sequence):
            x, _ = self.lstm(sequence)
            x, _ = self.gru(x)
            return self.head(x[:, -1])

    torch.manual_seed(SEED)
    return RecurrentClassifier().eval()


def example_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((2, 12, 8)).astype(np.float32),)
