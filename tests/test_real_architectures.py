"""Architectures the project did not write: transformers models from small configs, random weights,
exported to ONNX and re-imported into both torch and TensorFlow, each at parity with the original."""

import os

import numpy as np
import pytest

import toolkit

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # configs are built in code: nothing is downloaded


def _bert(transformers):
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    return transformers.BertModel(config), "ids"


def _gpt2(transformers):
    config = transformers.GPT2Config(
        vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0
    )
    return transformers.GPT2Model(config), "ids"


def _vit(transformers):
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    )
    return transformers.ViTModel(config), "image"


def _convnext(transformers):
    config = transformers.ConvNextConfig(num_channels=3, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1])
    return transformers.ConvNextModel(config), "image"


ARCHITECTURES = {"bert": _bert, "gpt2": _gpt2, "vit": _vit, "convnext": _convnext}


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def exported(request):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    backbone, kind = ARCHITECTURES[request.param](transformers)

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x).last_hidden_state

    module = LastHiddenState(backbone.eval()).eval()
    generator = np.random.default_rng(0)
    if kind == "ids":
        example = generator.integers(0, 100, (2, 12)).astype(np.int64)
    else:
        example = generator.standard_normal((2, 3, 32, 32)).astype(np.float32)
    return request.param, module, (example,), toolkit.convert(module, example_inputs=(example,))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["torch", "tensorflow"])
def test_reimported_architecture_matches_the_original(exported, target):
    name, module, example, onnx_model = exported
    imported = toolkit.convert(onnx_model, to=target)
    report = toolkit.verify_parity(module, imported, example_inputs=example)
    assert report, f"{name} -> {target}\n{report}"
