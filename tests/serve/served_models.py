"""Small models the serving tests and scripts/bench_serve.py export to ONNX from code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _export(module, example, path: Path, input_names, output_names, dynamic_axes) -> Path:
    import torch

    module.eval()
    with torch.no_grad():
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=17,
            dynamo=False,
        )
    return path


def build_cnn(path: Path) -> Path:
    """The tutorial CNN: Conv2d(1,16,3)+ReLU, flatten, Linear(16*26*26,128)+ReLU, Linear(128,10)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(1, 16, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 26 * 26, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    return _export(
        module,
        torch.randn(1, 1, 28, 28),
        path,
        ["input"],
        ["logits"],
        {"input": {0: "batch"}, "logits": {0: "batch"}},
    )


def build_transformer(path: Path) -> Path:
    """Token ids (INT64, batch x sequence) through an embedding, 2 pre-norm encoder blocks and mean pooling."""
    import torch
    from torch import nn

    # Attention written out: nn.MultiheadAttention's TorchScript export bakes the sequence length in.
    class Block(nn.Module):
        def __init__(self, width=32, heads=4):
            super().__init__()
            self.heads = heads
            self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.projection = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.feed_forward = nn.Sequential(
                nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
            )

        def forward(self, x):
            batch, sequence, width = x.shape
            qkv = self.qkv(self.norm1(x)).reshape(batch, sequence, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            weights = torch.softmax(q @ k.transpose(-2, -1) / (width // self.heads) ** 0.5, dim=-1)
            x = x + self.projection((weights @ v).transpose(1, 2).reshape(batch, sequence, width))
            return x + self.feed_forward(self.norm2(x))

    class TinyEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(100, 32)
            self.blocks = nn.Sequential(Block(), Block())
            self.head = nn.Linear(32, 4)

        def forward(self, tokens):
            return self.head(self.blocks(self.embedding(tokens)).mean(dim=1))

    torch.manual_seed(0)
    return _export(
        TinyEncoder(),
        torch.randint(0, 100, (2, 16)),
        path,
        ["tokens"],
        ["scores"],
        {"tokens": {0: "batch", 1: "sequence"}, "scores": {0: "batch"}},
    )


def _resnet(stem, stages, width_in: int):
    """Basic-block ResNet: `stem`, then per stage (width, blocks, stride), global pooling, 10 classes."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, inputs, outputs, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False),
                nn.BatchNorm2d(outputs),
                nn.ReLU(),
                nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False),
                nn.BatchNorm2d(outputs),
            )
            self.shortcut = (
                nn.Identity()
                if stride == 1 and inputs == outputs
                else nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))
            )

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    layers, width = list(stem), width_in
    for outputs, blocks, stride in stages:
        for index in range(blocks):
            layers.append(Block(width, outputs, stride if index == 0 else 1))
            width = outputs
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def build_resnet(path: Path) -> Path:
    """A CIFAR-style ResNet-8: three basic blocks (16, 32, 64 channels) on 3x32x32 images."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    stem = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    module = _resnet(stem, [(16, 1, 1), (32, 1, 2), (64, 1, 2)], 16)
    return _export(
        module,
        torch.randn(1, 3, 32, 32),
        path,
        ["image"],
        ["logits"],
        {"image": {0: "batch"}, "logits": {0: "batch"}},
    )


def build_resnet18(path: Path) -> Path:
    """ResNet-18 widths and depth (64-512 channels, 2 blocks a stage, 7x7 stem and max pool) on 3x64x64 images."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    stem = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    module = _resnet(stem, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)], 64)
    return _export(
        module,
        torch.randn(1, 3, 64, 64),
        path,
        ["image"],
        ["logits"],
        {"image": {0: "batch"}, "logits": {0: "batch"}},
    )


def build_mixed(path: Path) -> Path:
    """Two inputs (FP32, BOOL) and two outputs (FP32, INT64): datatypes and output selection."""
    graph = helper.make_graph(
        [
            helper.make_node("Neg", ["x"], ["negative"]),
            helper.make_node("Where", ["flag", "x", "negative"], ["selected"]),
            helper.make_node("Cast", ["flag"], ["count"], to=TensorProto.INT64),
        ],
        "mixed",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("flag", TensorProto.BOOL, ["batch", 3]),
        ],
        [
            helper.make_tensor_value_info("selected", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("count", TensorProto.INT64, ["batch", 3]),
        ],
    )
    return _save(graph, path)


def build_strings(path: Path) -> Path:
    """A string tensor passed through: the BYTES datatype both ways."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["echo"])],
        "strings",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info("echo", TensorProto.STRING, ["batch"])],
    )
    return _save(graph, path)


def build_slow(path: Path) -> Path:
    """A run as long as asked: `iterations` (INT64 scalar) rounds of x = tanh(x @ W), W 512x512, x (batch, 512)."""
    weight = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32) / 32
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["state_in", "weight"], ["product"]),
            helper.make_node("Tanh", ["product"], ["state_out"]),
            helper.make_node("Identity", ["condition_in"], ["condition_out"]),
        ],
        "round",
        [
            helper.make_tensor_value_info("round", TensorProto.INT64, []),
            helper.make_tensor_value_info("condition_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_in", TensorProto.FLOAT, ["batch", 512]),
        ],
        [
            helper.make_tensor_value_info("condition_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, ["batch", 512]),
        ],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["iterations", "", "x"], ["y"], body=body)],
        "slow",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 512]),
            helper.make_tensor_value_info("iterations", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 512])],
        [numpy_helper.from_array(weight, "weight")],
    )
    return _save(graph, path)


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def cnn_input(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 1, 28, 28)).astype(np.float32)


def build_log(path: Path) -> Path:
    """y = log(x) on a 1-D tensor: NaN for negative x, -Infinity for 0; cheap enough for 60 MB requests."""
    graph = helper.make_graph(
        [helper.make_node("Log", ["x"], ["y"])],
        "log",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path
