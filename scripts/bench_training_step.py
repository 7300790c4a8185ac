"""Training-step time of an import against its native source, same process, interleaved.

torch_cnn (reference) natively vs its torch import, and keras_cnn natively vs its TensorFlow
import (both as one tf.function step); each side runs one SGD step per round, rounds interleaved and
the side that goes first alternating (a loaded machine slows whichever runs second less often);
prints each side's median and spread (p10-p90), and the ratio import / native as the median of the
per-round ratios with its p10-p90 (goal: at most 1.10). The import is the one users get,
`toolkit.convert(model, to=target)`.
Run: PYTHONPATH=. python scripts/bench_training_step.py [--rounds 200]
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
    imported = train.imported(toolkit.convert(model, to=target, example_inputs=tuple(examples)))
    source = train.torch_source(model) if name.startswith("torch_") else train.keras_source(model)
    target_values = np.zeros(np.shape(train.evaluate(source, batch)), np.float32)
    native, other = [], []
    steps = [_compiled_step(side, batch, target_values) for side in (source, imported)]
    for run in steps:  # warm-up (tracing, allocator)
        run()
    for round_index in range(rounds):
        order = [(steps[0], native), (steps[1], other)]
        for run, times in order if round_index % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
    return f"{name} -> {target}", native, other


def _compiled_step(trainee, batch, target):
    """One SGD step; in TensorFlow both sides run it as one tf.function, as Keras's fit() does."""
    if trainee.framework == "torch":
        return lambda: train.step(trainee, batch, target, "sgd", 1e-3)
    import keras
    import tensorflow as tf

    variables = list(trainee.parameters.values())
    optimizer = keras.optimizers.SGD(1e-3)
    inputs = [tf.constant(x) for x in batch]

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((trainee.forward(inputs, True) - target) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    print(f"{'case':<28} {'native ms':>16} {'import ms':>16} {'ratio (p10-p90)':>20}")
    for name, target in (("torch_cnn", "torch"), ("keras_cnn", "tensorflow")):
        label, native, other = _bench(name, target, rounds)
        n, o = np.array(native) * 1e3, np.array(other) * 1e3

        def cell(values):
            return (
                f"{np.median(values):.2f} ({np.percentile(values, 10):.1f}-{np.percentile(values, 90):.1f})"
            )

        ratios = o / n  # paired: the two steps of one round saw the same machine load
        spread = f"{np.median(ratios):.2f} ({np.percentile(ratios, 10):.2f}-{np.percentile(ratios, 90):.2f})"
        print(f"{label:<28} {cell(n):>16} {cell(o):>16} {spread:>20}")


if __name__ == "__main__":
    main()
