"""BERT, ViT and a LLaMA-style decoder from transformers configs, random weights, nothing downloaded.

Each is built in code with a fixed seed and wrapped the way the benchmarks call it: token ids
(or an image) in, the model's main tensor out (`last_hidden_state`, or the decoder's `logits`).
`llama(size)` builds the decoder at the sizes `bench_scale.py` measures.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # configs are built in code: nothing is downloaded

VOCAB = 1000
SEQUENCE = 32
IMAGE = 64

# LLaMA-style decoders by approximate parameter count (32k vocabulary, untied embeddings).
LLAMA_SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=128, intermediate_size=352, num_hidden_layers=2, num_attention_heads=4),
    "100M": dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=8, num_attention_heads=12),
    "400M": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=26, num_attention_heads=16),
    "1.2B": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=21, num_attention_heads=32),
}


def _wrapped(model, output: str, argument: str):
    """`model(**{argument: x}).<output>`, as a one-input module the exporters and benchmarks call."""
    import torch

    class MainOutput(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model.eval()

        def forward(self, x):
            return getattr(self.model(**{argument: x}), output)

    MainOutput.__name__ = f"{type(model).__name__}{output.title().replace('_', '')}"
    return MainOutput().eval()


def bert():
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512
    )
    return _wrapped(transformers.BertModel(config, add_pooling_layer=False), "last_hidden_state", "input_ids")


def vit():
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=IMAGE,
        patch_size=8,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=512,
    )
    return _wrapped(
        transformers.ViTModel(config, add_pooling_layer=False), "last_hidden_state", "pixel_values"
    )


def llama(size: str = "tiny"):
    """A LlamaForCausalLM of `size` (a key of LLAMA_SIZES): ids in, logits out, no KV cache."""
    import torch
    import transformers

    torch.manual_seed(0)
    shape = LLAMA_SIZES[size]
    config = transformers.LlamaConfig(
        vocab_size=VOCAB if size == "tiny" else 32000,
        max_position_embeddings=256,
        use_cache=False,
        **shape,
    )
    with torch.no_grad():
        model = transformers.LlamaForCausalLM(config)
    return _wrapped(model, "logits", "input_ids")


def token_ids(batch: int = 2, sequence: int = SEQUENCE, vocab: int = VOCAB, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, (batch, sequence)).astype(np.int64)


def image(batch: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, IMAGE, IMAGE)).astype(np.float32)


# name -> (factory, example inputs at batch 2)
TWINS = {
    "bert": (bert, lambda: (token_ids(),)),
    "vit": (vit, lambda: (image(),)),
    "llama": (llama, lambda: (token_ids(),)),
}


def llama_parameters(size: str) -> int:
    """The parameter count of `llama(size)`, from its shape alone (nothing is built)."""
    shape = LLAMA_SIZES[size]
    hidden, layers = shape["hidden_size"], shape["num_hidden_layers"]
    vocab = VOCAB if size == "tiny" else 32000
    per_layer = 4 * hidden * hidden + 3 * hidden * shape["intermediate_size"] + 2 * hidden
    return 2 * vocab * hidden + layers * per_layer + hidden


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())
