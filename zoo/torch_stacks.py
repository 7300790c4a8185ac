"""torch.nn stacks, each module called with the arguments its users pass (masks included)."""

from __future__ import annotations

import numpy as np

SEED = 0


def _rng():
    return np.random.default_rng(SEED)


def lstm_bidirectional():
    import torch

    torch.manual_seed(SEED)
    model = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True).eval()
    return model, (_rng().standard_normal((2, 10, 8)).astype(np.float32),)


def gru_bidirectional():
    import torch

    torch.manual_seed(SEED)
    model = torch.nn.GRU(8, 16, num_layers=2, bidirectional=True).eval()  # (sequence, batch, feature)
    return model, (_rng().standard_normal((10, 2, 8)).astype(np.float32),)


def transformer_encoder():
    import torch

    torch.manual_seed(SEED)
    layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    padding = np.zeros((2, 10), bool)
    padding[1, 7:] = True
    return model, {
        "src": _rng().standard_normal((2, 10, 32)).astype(np.float32),
        "src_key_padding_mask": padding,
    }


def transformer_decoder():
    import torch

    torch.manual_seed(SEED)
    layer = torch.nn.TransformerDecoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    model = torch.nn.TransformerDecoder(layer, num_layers=2).eval()
    rng = _rng()
    memory_padding = np.zeros((2, 10), bool)
    memory_padding[1, 8:] = True
    return model, {
        "tgt": rng.standard_normal((2, 6, 32)).astype(np.float32),
        "memory": rng.standard_normal((2, 10, 32)).astype(np.float32),
        "memory_key_padding_mask": memory_padding,
    }


def multihead_attention_masks():
    import torch

    torch.manual_seed(SEED)
    model = torch.nn.MultiheadAttention(32, 4, batch_first=True).eval()
    rng = _rng()
    query = rng.standard_normal((2, 6, 32)).astype(np.float32)
    key = rng.standard_normal((2, 10, 32)).astype(np.float32)
    padding = np.zeros((2, 10), bool)
    padding[1, 8:] = True
    return model, {"query": query, "key": key, "value": key, "key_padding_mask": padding}


def torch_conv3d():
    import torch

    torch.manual_seed(SEED)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 4, 3, stride=2)
    ).eval()
    return model, (_rng().standard_normal((2, 2, 8, 8, 8)).astype(np.float32),)


def group_norm():
    import torch

    torch.manual_seed(SEED)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.GroupNorm(4, 8),
        torch.nn.SiLU(),
        torch.nn.Conv2d(8, 8, 1),
    ).eval()
    return model, (_rng().standard_normal((2, 3, 16, 16)).astype(np.float32),)


def embedding_bag():
    import torch

    class BagClassifier(torch.nn.Module):
        """Mean of token embeddings per row, then a linear head: a bag-of-words text classifier."""

        def __init__(self):
            super().__init__()
            self.bag = torch.nn.EmbeddingBag(50, 16, mode="mean")
            self.head = torch.nn.Linear(16, 4)

        def forward(self, input_ids):
            return self.head(self.bag(input_ids))

    torch.manual_seed(SEED)
    return BagClassifier().eval(), (_rng().integers(0, 50, (2, 7)).astype(np.int64),)


def unet_interpolate():
    import torch
    import torch.nn.functional as F

    class TinyUNet(torch.nn.Module):
        """Down, up with `F.interpolate(size=skip.shape[-2:])`, concatenate the skip: U-Net's decoder step."""

        def __init__(self):
            super().__init__()
            self.down = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.middle = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.skip = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.out = torch.nn.Conv2d(16, 2, 1)

        def forward(self, x):
            skip = self.skip(x)
            y = torch.relu(self.middle(torch.relu(self.down(x))))
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
            return self.out(torch.cat([y, skip], dim=1))

    torch.manual_seed(SEED)
    return TinyUNet().eval(), (_rng().standard_normal((2, 3, 16, 16)).astype(np.float32),)
