"""A three-layer perceptron on flat 32-feature vectors."""

from __future__ import annotations

import numpy as np

FRAMEWORK = "torch"
INPUT_NAMES = ("features",)
SEED = 1


def build():
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    return nn.Sequential(
        nn.Linear(32, 64),
        nn.ReLU(),
        nn.Linear(64, 64),
        nn.GELU(),
        nn.Linear(64, 10),
    ).eval()


def example_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((2, 32)).astype(np.float32),)
