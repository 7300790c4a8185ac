"""Imported models against the same architecture run natively: interleaved rounds, median ratio and spread.

Each pair is a native model and its twin that went through ONNX and came back through one of the
toolkit's importers; the ratio is imported / native latency (below 1.00: the import is faster).

- torch importer: every torch reference model round-tripped torch -> ONNX -> torch, against itself;
  BERT, ViT and a LLaMA-style decoder (small transformers configs, random weights) the same way;
  and the Keras tutorial CNN imported into torch, against its torch twin (`torch_cnn`).
- TensorFlow importer: every Keras reference model round-tripped Keras -> ONNX -> TF, against Keras
  (through a tf.function, as Keras users serve it); the torch tutorial CNN imported into TF against
  its Keras twin (`keras_cnn`), NCHW in and out; and BERT, ViT and LLaMA imported into TF, against
  the torch original (they have no Keras twin).

A round times the native model and then the imported one (the order alternates between rounds so
drift does not favour either), each as the median of `--repeats` calls; the whole pair is repeated
`--rounds` times. The table shows the median ratio over rounds and its min-max; a range that
straddles 1.00 is "within noise", a ratio whose max is above 1.05 is flagged.

    .venv/bin/python scripts/bench_importers.py [--rounds 5] [--repeats 0 (auto)] [--statistic median|min]
                                                [--json out.json] [--unfolded]
                                                [--only torch|tensorflow] [--models torch_cnn,bert]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))
sys.path.insert(0, str(SCRIPTS))

from toolkit.quiet import quiet_tensorflow_import  # noqa: E402

quiet_tensorflow_import()  # TF's C++ start-up notices, written to fd 2 while tensorflow imports
# The parity check before timing traces toolkit's own Keras call per model: TF's retracing warning
# is about that helper, not the models timed. (Not quiet_frameworks: it turns oneDNN off.)
logging.getLogger("tensorflow").setLevel(logging.ERROR)

import numpy as np  # noqa: E402

from models import load_reference, references  # noqa: E402
from toolkit.parity.inputs import resize_batch  # noqa: E402

BATCH_SIZES = (1, 32)
WARMUP_CALLS = 3
# With --repeats 0 each timing block calls the model about this long (at least 3 calls, at most 200).
BLOCK_SECONDS = 0.05
TOLERATED_MAX = 1.05  # the goal: no pair's range above this
ZOO = ("bert", "vit", "llama")


@dataclasses.dataclass
class Pair:
    importer: str
    model: str
    batch: int
    native: Callable[[], object]
    imported: Callable[[], object]


@dataclasses.dataclass
class Measurement:
    importer: str
    model: str
    batch: int
    native_ms: float
    imported_ms: float
    ratios: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def verdict(self) -> str:
        low, high = min(self.ratios), max(self.ratios)
        if low <= 1.0 <= high:
            return "within noise"
        return "faster" if high < 1.0 else "slower"

    def to_json(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "ratio_median": self.ratio,
            "ratio_min": min(self.ratios),
            "ratio_max": max(self.ratios),
            "verdict": self.verdict,
            "above_tolerated_max": max(self.ratios) > TOLERATED_MAX,
        }


# --------------------------------------------------------------------------- timing


# How a block of calls is summarised: the median, or the fastest call (`--statistic min`: on a
# loaded machine the calls another process preempted only ever add time, so the minimum is the
# closest to what the call itself costs).
STATISTICS = {"median": statistics.median, "min": min}


def block_seconds(call: Callable[[], object], repeats: int, statistic: str = "median") -> float:
    """The median (or the minimum) of `repeats` timed calls."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return STATISTICS[statistic](samples)


def calibrated_repeats(call: Callable[[], object]) -> int:
    started = time.perf_counter()
    call()
    once = max(time.perf_counter() - started, 1e-6)
    return int(min(200, max(3, BLOCK_SECONDS / once)))


def measure(pair: Pair, rounds: int, repeats: int, statistic: str = "median") -> Measurement:
    """Interleaved rounds: native then imported, imported then native, ... (warm-up first)."""
    for _ in range(WARMUP_CALLS):
        pair.native()
        pair.imported()
    count = repeats or max(calibrated_repeats(pair.native), calibrated_repeats(pair.imported))
    natives, importeds, ratios = [], [], []
    for index in range(rounds):
        if index % 2 == 0:
            native = block_seconds(pair.native, count, statistic)
            imported = block_seconds(pair.imported, count, statistic)
        else:
            imported = block_seconds(pair.imported, count, statistic)
            native = block_seconds(pair.native, count, statistic)
        natives.append(native)
        importeds.append(imported)
        ratios.append(imported / native)
    return Measurement(
        pair.importer,
        pair.model,
        pair.batch,
        statistics.median(natives) * 1e3,
        statistics.median(importeds) * 1e3,
        ratios,
    )


# --------------------------------------------------------------------------- callers


def set_threads(count: int) -> None:
    """The same thread count for both frameworks: on a shared machine one thread per framework keeps
    a stalled worker thread from adding tens of milliseconds to a call, which no ratio survives."""
    import torch

    torch.set_num_threads(count)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(count)
    tf.config.threading.set_inter_op_parallelism_threads(count)


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


def keras_function(model, examples=None):
    """The Keras model as its users serve it: a tf.function. With `examples`, traced once for any
    batch (an input signature with the batch left None, as the imported module's own), so the
    batch-1 and batch-32 pairs do not retrace it (and TF does not warn about retracing)."""
    import tensorflow as tf

    signature = None
    if examples is not None:
        signature = [
            tf.TensorSpec([None, *np.shape(x)[1:]], tf.as_dtype(np.asarray(x).dtype)) for x in examples
        ]
    return tf.function(
        lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False), input_signature=signature
    )


def onnx_of(module, example_inputs):
    from toolkit import api

    return api.convert(module, example_inputs=example_inputs)


def native_source(name: str):
    """(model, example inputs at batch 2) for a reference model or one of the transformer twins."""
    if name in ZOO:
        from transformer_twins import TWINS

        factory, examples = TWINS[name]
        return factory(), examples()
    reference = load_reference(name)
    return reference.build(), reference.example_inputs()


# --------------------------------------------------------------------------- the pairs


def unfolded_import(model):
    """The torch import as the builder records it, before importers/torch/optimize.py's folds."""
    from toolkit.importers import core
    from toolkit.importers.torch.builder import build
    from toolkit.importers.torch.ops import table

    return build(core.prepare(model, table))


def torch_pairs(selected, unfolded: bool = False) -> Iterator[Pair]:
    from toolkit.importers.torch import import_onnx

    importer = unfolded_import if unfolded else import_onnx  # the same pairs, the folds left out
    suffix = ", unfolded" if unfolded else ""

    for name in [*references("torch"), *ZOO]:
        if not selected(name):
            continue
        native, examples = native_source(name)
        imported = importer(onnx_of(native, examples))
        for batch in BATCH_SIZES:
            inputs = at_batch(examples, batch)
            yield Pair(
                "torch",
                f"{name} (round trip{suffix})",
                batch,
                torch_caller(native, inputs),
                torch_caller(imported, inputs),
            )
    if selected("keras_cnn") or selected("torch_cnn"):
        # The Keras tutorial CNN, imported into torch, against the same network written in torch.
        native, torch_inputs = native_source("torch_cnn")
        keras_model, keras_inputs = native_source("keras_cnn")
        imported = importer(onnx_of(keras_model, keras_inputs))
        for batch in BATCH_SIZES:
            yield Pair(
                "torch",
                f"keras_cnn -> torch vs torch_cnn{suffix}",
                batch,
                torch_caller(native, at_batch(torch_inputs, batch)),
                torch_caller(imported, at_batch(keras_inputs, batch)),
            )


def tensorflow_pairs(selected) -> Iterator[Pair]:
    from toolkit.importers.tensorflow import import_onnx

    for name in references("keras"):
        if not selected(name):
            continue
        model, examples = native_source(name)
        imported = import_onnx(onnx_of(model, examples))
        native = keras_function(model, examples)
        for batch in BATCH_SIZES:
            inputs = at_batch(examples, batch)
            yield Pair(
                "tensorflow",
                f"{name} (round trip)",
                batch,
                tensorflow_caller(native, inputs),
                tensorflow_caller(imported, inputs),
            )
    if selected("keras_cnn") or selected("torch_cnn"):
        # The torch tutorial CNN (NCHW), imported into TF, against the same network in Keras (NHWC).
        keras_model, keras_inputs = native_source("keras_cnn")
        torch_model, torch_inputs = native_source("torch_cnn")
        native = keras_function(keras_model, keras_inputs)
        imported = import_onnx(onnx_of(torch_model, torch_inputs))
        for batch in BATCH_SIZES:
            yield Pair(
                "tensorflow",
                "torch_cnn -> TF vs keras_cnn",
                batch,
                tensorflow_caller(native, at_batch(keras_inputs, batch)),
                tensorflow_caller(imported, at_batch(torch_inputs, batch)),
            )
    for name in ZOO:
        if not selected(name):
            continue
        # No Keras twin: the natural competitor is the torch original the ONNX came from.
        native, examples = native_source(name)
        imported = import_onnx(onnx_of(native, examples))
        for batch in BATCH_SIZES:
            inputs = at_batch(examples, batch)
            yield Pair(
                "tensorflow",
                f"{name} -> TF vs torch {name}",
                batch,
                torch_caller(native, inputs),
                tensorflow_caller(imported, inputs),
            )


# --------------------------------------------------------------------------- output


def ratio_cell(measurement: Measurement) -> str:
    text = f"{measurement.ratio:.2f}x"
    if max(measurement.ratios) > TOLERATED_MAX and measurement.verdict == "slower":
        return f"[red]{text}[/red]"
    return f"[green]{text}[/green]" if measurement.verdict == "faster" else text


def table_of(measurements: list[Measurement], rounds: int):
    from rich.table import Table

    table = Table(
        title=f"Imported vs native: latency over {rounds} interleaved rounds (ratio = imported / native)"
    )
    for column in ("importer", "model", "batch", "native ms", "imported ms", "ratio", "min-max", "verdict"):
        table.add_column(column, justify="left" if column in ("importer", "model", "verdict") else "right")
    for m in measurements:
        table.add_row(
            m.importer,
            m.model,
            str(m.batch),
            f"{m.native_ms:.3f}",
            f"{m.imported_ms:.3f}",
            ratio_cell(m),
            f"{min(m.ratios):.2f}-{max(m.ratios):.2f}",
            m.verdict,
        )
    return table


def main(argv=None) -> int:
    from toolkit import progress
    from toolkit.io import atomic_output
    from toolkit.terminal import console

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="times the whole native/imported pair is repeated"
    )
    parser.add_argument(
        "--repeats", type=int, default=0, help="calls per timing block (0: about 50 ms worth)"
    )
    parser.add_argument("--statistic", choices=tuple(STATISTICS), default="median", help="per timing block")
    parser.add_argument("--only", choices=("torch", "tensorflow"), default=None)
    parser.add_argument(
        "--unfolded", action="store_true", help="torch: import without the fx folds (before/after)"
    )
    parser.add_argument("--models", default=None, help="comma-separated model names (default: all)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads for torch and TF (0: the frameworks' default)",
    )
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    wanted = {m.strip() for m in arguments.models.split(",")} if arguments.models else None

    def selected(name: str) -> bool:
        return wanted is None or name in wanted

    if arguments.threads:
        set_threads(arguments.threads)
    sources = []
    if arguments.only in (None, "torch"):
        sources.append(torch_pairs(selected, arguments.unfolded))
    if arguments.only in (None, "tensorflow"):
        sources.append(tensorflow_pairs(selected))
    measurements = []
    with progress.shown():
        for pairs in sources:
            for pair in pairs:
                with progress.activity(f"{pair.importer}: {pair.model}, batch {pair.batch}"):
                    measurements.append(
                        measure(pair, arguments.rounds, arguments.repeats, arguments.statistic)
                    )
    console().print(table_of(measurements, arguments.rounds))
    if arguments.json:
        document = {
            "rounds": arguments.rounds,
            "statistic": arguments.statistic,
            "pairs": [m.to_json() for m in measurements],
        }
        with atomic_output(arguments.json) as temporary:
            temporary.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
