"""A corpus of real architectures, built in code from small configs with random weights (nothing downloaded).

Each entry is a factory spec the toolkit takes as is (`zoo.transformers_text:bert`): a function
returning `(model, example_inputs)`, the inputs positional or a dict of keyword inputs, called
the way the model's users call it. Listing the corpus imports no framework.
"""

from __future__ import annotations

FAMILIES: dict[str, list[str]] = {
    "zoo.keras_applications": [
        "mobilenet",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
        "efficientnet_b0",
        "efficientnet_v2_b0",
        "resnet50",
        "resnet50_v2",
        "densenet121",
        "inception_v3",
        "xception",
        "nasnet_mobile",
        "convnext_tiny",
        "vgg16",
    ],
    "zoo.transformers_text": [
        "bert",
        "bert_with_mask",
        "roberta",
        "roberta_with_mask",
        "albert",
        "albert_with_mask",
        "deberta_v2",
        "deberta_v2_with_mask",
        "electra",
        "electra_with_mask",
        "distilbert",
        "distilbert_with_mask",
        "gpt2",
        "gpt2_with_mask",
        "llama",
        "llama_with_mask",
        "mistral",
        "mistral_with_mask",
        "phi",
        "phi_with_mask",
        "gemma",
        "gemma_with_mask",
        "t5",
        "bart",
    ],
    "zoo.transformers_vision_audio": ["vit", "deit", "convnext", "resnet", "mobilevit", "whisper_encoder"],
    "zoo.torch_stacks": [
        "lstm_bidirectional",
        "gru_bidirectional",
        "transformer_encoder",
        "transformer_decoder",
        "multihead_attention_masks",
        "torch_conv3d",  # keras_stacks has its own conv3d
        "group_norm",
        "embedding_bag",
        "unet_interpolate",
    ],
    "zoo.keras_stacks": [
        "bidirectional_gru",
        "bidirectional_lstm",
        "multi_head_attention",
        "conv1d",
        "conv3d",
        "time_distributed",
        "upsampling",
        "conv2d_transpose",
        "embedding_masking",
        "dict_inputs",
    ],
}

# name -> "module:function", the factory spec `toolkit convert` takes.
ZOO: dict[str, str] = {name: f"{module}:{name}" for module, names in FAMILIES.items() for name in names}

# A few per family, for `make test`: small, quick, and covering each way of calling a model.
REPRESENTATIVE = ("bert_with_mask", "vit", "group_norm", "dict_inputs")


def framework_of(name: str) -> str:
    return "keras" if ZOO[name].startswith("zoo.keras") else "torch"
