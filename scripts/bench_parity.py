"""How much verify-parity costs beyond the runs it needs, and how fast localisation is.

1. A ResNet-50 (bottlenecks 3-4-6-3, 25.6 M parameters, 224x224) as a torch factory against its
   ONNX export: `toolkit.verify_parity` end to end, against the bare work it cannot avoid (load the
   torch module, open the onnxruntime session, run both at the same batch sizes). Prints the ratio
   (target: at most 1.5).
2. Localisation of a deliberately perturbed 1,000-node ONNX graph (target: under 10 s).

    .venv/bin/python scripts/bench_parity.py [--json out.json] [--repeats 3]

This file is also the factory: `scripts/bench_parity.py:build`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
IMAGE_SIZE = 224
EXAMPLE_BATCH = 2


def build():
    """ResNet-50 as torchvision defines it (Bottleneck, expansion 4), written out: no torchvision needed."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, in_channels, width, stride):
            super().__init__()
            out_channels = width * 4
            self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out_channels)
            self.downsample = None
            if stride != 1 or in_channels != out_channels:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
                )

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = torch.relu(self.bn1(self.conv1(x)))
            out = torch.relu(self.bn2(self.conv2(out)))
            return torch.relu(self.bn3(self.conv3(out)) + identity)

    class ResNet50(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
            )
            layers, in_channels = [], 64
            for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for index in range(blocks):
                    layers.append(Bottleneck(in_channels, width, stride if index == 0 else 1))
                    in_channels = width * 4
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(in_channels, num_classes)

        def forward(self, image):
            return self.fc(torch.flatten(self.pool(self.layers(self.stem(image))), 1))

    torch.manual_seed(0)
    return ResNet50().eval()


def example_inputs():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((EXAMPLE_BATCH, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32),)


def bare_runs(factory: str, onnx_path: Path) -> float:
    """The work parity cannot skip: load both models, run both on the same inputs at each batch size."""
    import onnxruntime
    import torch

    from toolkit.sources import load_source

    started = time.perf_counter()
    module = load_source(factory).model
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for batch in (EXAMPLE_BATCH, 1):  # verify-parity's default for a dynamic batch: the example's and 1
        feed = (
            np.random.default_rng(batch)
            .standard_normal((batch, 3, IMAGE_SIZE, IMAGE_SIZE))
            .astype(np.float32)
        )
        with torch.no_grad():
            module(torch.from_numpy(feed))
        session.run(None, {"image": feed})
    return time.perf_counter() - started


def parity_run(factory: str, onnx_path: Path) -> float:
    from toolkit import verify_parity

    started = time.perf_counter()
    report = verify_parity(factory, str(onnx_path), provider="cpu")
    elapsed = time.perf_counter() - started
    if not report:
        raise SystemExit(f"the ResNet-50 export does not pass parity:\n{report}")
    return elapsed


def localisation_seconds(nodes: int = 1000) -> tuple[float, str]:
    sys.path.insert(0, str(REPOSITORY / "tests" / "parity"))
    import parity_graphs

    from toolkit.parity.localize import localize
    from toolkit.sources import Source

    chain = parity_graphs.long_chain(nodes)
    broken = parity_graphs.perturb_weight(chain, f"w{nodes // 5}")
    feeds = [np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)]
    started = time.perf_counter()
    divergence = localize(Source("onnx", chain, "chain"), Source("onnx", broken, "broken"), feeds, feeds)
    return time.perf_counter() - started, divergence.node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each timing")
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(REPOSITORY))

    from toolkit import convert

    factory = f"{Path(__file__).resolve()}:build"
    with tempfile.TemporaryDirectory() as directory:
        onnx_path = Path(directory) / "resnet50.onnx"
        started = time.perf_counter()
        convert(factory, to="onnx", output=onnx_path)
        print(f"exported ResNet-50 in {time.perf_counter() - started:.1f} s (not measured)")
        bare_runs(factory, onnx_path)  # warm-up: imports, allocator, thread pools
        bare = min(bare_runs(factory, onnx_path) for _ in range(arguments.repeats))
        parity = min(parity_run(factory, onnx_path) for _ in range(arguments.repeats))
    ratio = parity / bare
    localisation, node = localisation_seconds()
    print(f"ResNet-50 bare runs (load + 2 batch sizes x 2 models): {bare:.2f} s")
    print(f"ResNet-50 verify_parity end to end:                   {parity:.2f} s")
    print(f"ratio verify-parity / bare runs: {ratio:.2f} (target <= 1.5)")
    print(f"localisation on a 1,000-node graph: {localisation:.2f} s, found {node} (target < 10 s)")
    if arguments.json:
        arguments.json.write_text(
            json.dumps(
                {
                    "bare_seconds": bare,
                    "parity_seconds": parity,
                    "ratio": ratio,
                    "localisation_seconds": localisation,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
