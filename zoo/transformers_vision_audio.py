"""transformers vision and audio models from small configs, called with `pixel_values` / `input_features`."""

from __future__ import annotations

import numpy as np

SEED = 0
SIZE = 32


def _image(size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal((2, 3, size, size)).astype(np.float32)


def _model(class_name: str, config_name: str, **config):
    import torch
    import transformers

    torch.manual_seed(SEED)
    return getattr(transformers, class_name)(getattr(transformers, config_name)(**config)).eval()


_VIT = {
    "image_size": SIZE,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
}


def vit():
    return _model("ViTModel", "ViTConfig", **_VIT), (_image(),)


def deit():
    return _model("DeiTModel", "DeiTConfig", **_VIT), (_image(),)


def convnext():
    model = _model("ConvNextModel", "ConvNextConfig", hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1])
    return model, (_image(),)


def resnet():
    model = _model(
        "ResNetModel", "ResNetConfig", embedding_size=16, hidden_sizes=[16, 32, 32, 64], depths=[1, 1, 1, 1]
    )
    return model, (_image(),)


def mobilevit():
    model = _model(
        "MobileViTModel",
        "MobileViTConfig",
        image_size=SIZE,
        patch_size=2,
        hidden_sizes=[16, 24, 32],
        neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64],
        num_attention_heads=2,
    )
    return model, (_image(),)


def whisper_encoder():
    import torch
    import transformers

    torch.manual_seed(SEED)
    config = transformers.WhisperConfig(
        num_mel_bins=16,
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=4,
        max_source_positions=16,
    )
    encoder = transformers.WhisperModel(config).get_encoder().eval()
    features = np.random.default_rng(SEED).standard_normal((2, 16, 32)).astype(np.float32)
    return encoder, {"input_features": features}
