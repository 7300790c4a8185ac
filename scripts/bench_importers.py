"""Imported models against the same architecture written natively, on the project's reference models.

For each pair, the median latency at batch 1 and 32 of the native model and of the model that went
through ONNX and came back through the toolkit's importer, and their ratio (imported / native):

- torch importer: every torch reference model round-tripped torch -> ONNX -> torch, against itself;
  and the Keras tutorial CNN imported into torch, against its torch twin (`torch_cnn`).
- TensorFlow importer: the Keras CNN and BiLSTM round-tripped Keras -> ONNX -> TF, against Keras
  (through a tf.function, as Keras users serve it); and the torch tutorial CNN imported into TF,
  against its Keras twin (`keras_cnn`), NCHW in and NCHW out.

    .venv/bin/python scripts/bench_importers.py [--repeats 30] [--only torch|tensorflow]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from models import load_reference, references  # noqa: E402
from toolkit.parity.inputs import resize_batch  # noqa: E402

BATCH_SIZES = (1, 32)


def median_seconds(call, repeats: int) -> float:
    for _ in range(3):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def at_batch(inputs, batch: int):
    return tuple(resize_batch(x, batch) for x in inputs)


def torch_caller(module, inputs):
    import torch

    tensors = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs)

    def call():
        with torch.no_grad():
            module(*tensors)

    return call


def tensorflow_caller(function, inputs):
    import tensorflow as tf

    tensors = tuple(tf.constant(x) for x in inputs)
    return lambda: function(*tensors)


def keras_function(model):
    import tensorflow as tf

    return tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))


def onnx_of(name: str):
    from toolkit import api

    reference = load_reference(name)
    return api.convert(reference.build(), example_inputs=reference.example_inputs())


def rows_torch(repeats: int):
    from toolkit.importers.torch import import_onnx

    for name in references("torch"):
        reference = load_reference(name)
        native = reference.build()
        imported = import_onnx(onnx_of(name))
        for batch in BATCH_SIZES:
            inputs = at_batch(reference.example_inputs(), batch)
            yield (
                "torch",
                f"{name} (round trip)",
                batch,
                median_seconds(torch_caller(native, inputs), repeats),
                median_seconds(torch_caller(imported, inputs), repeats),
            )
    # The Keras tutorial CNN, imported into torch, against the same network written in torch.
    native = load_reference("torch_cnn").build()
    imported = import_onnx(onnx_of("keras_cnn"))
    keras_inputs = load_reference("keras_cnn").example_inputs()
    torch_inputs = load_reference("torch_cnn").example_inputs()
    for batch in BATCH_SIZES:
        yield (
            "torch",
            "keras_cnn -> torch vs torch_cnn",
            batch,
            median_seconds(torch_caller(native, at_batch(torch_inputs, batch)), repeats),
            median_seconds(torch_caller(imported, at_batch(keras_inputs, batch)), repeats),
        )


def rows_tensorflow(repeats: int):
    from toolkit.importers.tensorflow import import_onnx

    for name in ("keras_cnn", "keras_bilstm"):
        reference = load_reference(name)
        native = keras_function(reference.build())
        imported = import_onnx(onnx_of(name))
        for batch in BATCH_SIZES:
            inputs = at_batch(reference.example_inputs(), batch)
            yield (
                "tensorflow",
                f"{name} (round trip)",
                batch,
                median_seconds(tensorflow_caller(native, inputs), repeats),
                median_seconds(tensorflow_caller(imported, inputs), repeats),
            )
    # The torch tutorial CNN (NCHW), imported into TF, against the same network written in Keras (NHWC).
    native = keras_function(load_reference("keras_cnn").build())
    imported = import_onnx(onnx_of("torch_cnn"))
    keras_inputs = load_reference("keras_cnn").example_inputs()
    torch_inputs = load_reference("torch_cnn").example_inputs()
    for batch in BATCH_SIZES:
        yield (
            "tensorflow",
            "torch_cnn -> TF vs keras_cnn",
            batch,
            median_seconds(tensorflow_caller(native, at_batch(keras_inputs, batch)), repeats),
            median_seconds(tensorflow_caller(imported, at_batch(torch_inputs, batch)), repeats),
        )


def main(argv=None) -> int:
    from rich.table import Table

    from toolkit.terminal import console

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--only", choices=("torch", "tensorflow"), default=None)
    arguments = parser.parse_args(argv)
    table = Table(title="Imported vs native: median latency (ratio = imported / native)")
    for column in ("importer", "model", "batch", "native ms", "imported ms", "ratio"):
        table.add_column(column, justify="right" if column not in ("importer", "model") else "left")
    sources = []
    if arguments.only in (None, "torch"):
        sources.append(rows_torch(arguments.repeats))
    if arguments.only in (None, "tensorflow"):
        sources.append(rows_tensorflow(arguments.repeats))
    for rows in sources:
        for importer, model, batch, native, imported in rows:
            table.add_row(
                importer,
                model,
                str(batch),
                f"{native * 1e3:.3f}",
                f"{imported * 1e3:.3f}",
                f"{imported / native:.2f}x",
            )
    console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
