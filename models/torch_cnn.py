"""The classic PyTorch tutorial CNN on 1x28x28 images: one conv, two linear layers."""

from __future__ import annotations

import numpy as np

FRAMEWORK = "torch"
INPUT_NAMES = ("image",)
SEED = 0


def build():
    import torch
    from torch import nn

    class TutorialCnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 16, 3)
            self.fc1 = nn.Linear(16 * 26 * 26, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, image):
            x = torch.relu(self.conv(image))
            x = torch.flatten(x, 1)
            x = torch.relu(self.fc1(x))
            return self.fc2(x)

    torch.manual_seed(SEED)
    return TutorialCnn().eval()


def example_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((2, 1, 28, 28)).astype(np.float32),)
