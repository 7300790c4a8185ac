"""Benchmark the torch importer: import time of a ResNet-50-size model, and inference latency of the
imported module against the same architecture written natively in torch (batch 1 and 32).

    .venv/bin/python scripts/bench_torch_import.py
"""

from __future__ import annotations

import io
import statistics
import time

import onnx
import torch

from toolkit.importers.torch import import_onnx


def resnet50() -> torch.nn.Module:
    try:
        import torchvision

        return torchvision.models.resnet50(weights=None)
    except ImportError:  # a ResNet-50-sized stack of bottlenecks without torchvision
        layers, channels = [torch.nn.Conv2d(3, 64, 7, 2, 3), torch.nn.BatchNorm2d(64), torch.nn.ReLU()], 64
        layers.append(torch.nn.MaxPool2d(3, 2, 1))
        for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
            for block in range(blocks):
                stride = 2 if stage and not block else 1
                layers += [
                    torch.nn.Conv2d(channels, width, 1),
                    torch.nn.BatchNorm2d(width),
                    torch.nn.ReLU(),
                    torch.nn.Conv2d(width, width, 3, stride, padding=1),
                    torch.nn.BatchNorm2d(width),
                    torch.nn.ReLU(),
                    torch.nn.Conv2d(width, width * 4, 1),
                    torch.nn.BatchNorm2d(width * 4),
                    torch.nn.ReLU(),
                ]
                channels = width * 4
        layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, 1000)]
        return torch.nn.Sequential(*layers)


def to_onnx(module: torch.nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    buffer = io.BytesIO()
    torch.onnx.export(
        module, (example,), buffer, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}}
    )
    return onnx.load_from_string(buffer.getvalue())


def median_latency(module, x, repeats: int) -> float:
    times = []
    with torch.inference_mode():
        for _ in range(3):
            module(x)
        for _ in range(repeats):
            start = time.perf_counter()
            module(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    native = resnet50().eval()
    model = to_onnx(native, torch.randn(1, 3, 224, 224))
    start = time.perf_counter()
    imported = import_onnx(model).eval()
    print(
        f"import time (ResNet-50, {sum(p.numel() for p in native.parameters()) / 1e6:.1f}M parameters): "
        f"{time.perf_counter() - start:.2f} s"
    )
    for batch, repeats in ((1, 20), (32, 3)):
        x = torch.randn(batch, 3, 224, 224)
        with torch.inference_mode():
            torch.testing.assert_close(imported(x), native(x), rtol=1e-3, atol=1e-3)
        native_time, imported_time = median_latency(native, x, repeats), median_latency(imported, x, repeats)
        print(
            f"batch {batch}: native {native_time * 1e3:.1f} ms, imported {imported_time * 1e3:.1f} ms, "
            f"ratio {imported_time / native_time:.2f}x"
        )


if __name__ == "__main__":
    main()
