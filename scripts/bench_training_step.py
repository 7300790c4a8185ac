"""Training-step time of an import against its native source, same process, interleaved.

torch_cnn (reference) natively vs its torch import, and keras_cnn natively (tf.GradientTape)
vs its TensorFlow import; each side runs one SGD step per round, rounds interleaved; prints the
median, the spread (p10-p90) and the ratio import / native (goal: at most 1.10).
Run: PYTHONPATH=. python scripts/bench_training_step.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import toolkit
from models import load_reference
from toolkit.parity import train


def _bench(name: str, target: str, rounds: int) -> tuple[str, list[float], list[float]]:
    reference = load_reference(name)
    model = reference.build()
    examples = [np.asarray(x) for x in reference.example_inputs()]
    batch = [np.repeat(x, 16, axis=0) for x in examples]
    onnx_model = toolkit.convert(model, to="onnx", example_inputs=tuple(examples), trainable=True)
    imported = train.imported(toolkit.convert(onnx_model, to=target))
    source = train.torch_source(model) if name.startswith("torch_") else train.keras_source(model)
    target_values = np.zeros(np.shape(train.evaluate(source, batch)), np.float32)
    native, other = [], []
    for side in (source, imported):  # warm-up (tracing, allocator)
        train.step(side, batch, target_values, "sgd", 1e-3)
    for _ in range(rounds):
        for side, times in ((source, native), (imported, other)):
            started = time.perf_counter()
            train.step(side, batch, target_values, "sgd", 1e-3)
            times.append(time.perf_counter() - started)
    return f"{name} -> {target}", native, other


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    print(f"{'case':<28} {'native ms':>16} {'import ms':>16} {'ratio':>6}")
    for name, target in (("torch_cnn", "torch"), ("keras_cnn", "tensorflow")):
        label, native, other = _bench(name, target, rounds)
        n, o = np.array(native) * 1e3, np.array(other) * 1e3

        def cell(values):
            return (
                f"{np.median(values):.2f} ({np.percentile(values, 10):.1f}-{np.percentile(values, 90):.1f})"
            )

        print(f"{label:<28} {cell(n):>16} {cell(o):>16} {np.median(o) / np.median(n):>6.2f}")


if __name__ == "__main__":
    main()
