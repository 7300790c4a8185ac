"""Compiled imported models against their compiled native twins: torch.compile (inductor) and XLA.

torch: every torch reference model (and BERT, ViT, LLaMA-style twins with --zoo) round-tripped
torch -> ONNX -> torch. Per model: the graph breaks `torch._dynamo.explain` finds in the imported
module; then, per batch size, interleaved rounds (as in bench_importers.py) of eager and of
`torch.compile(..., backend="inductor")`, native and imported. Reported: each side's compiled
speed-up (eager / compiled), and compiled imported / compiled native (the goal: within 1.10).

Telling 10% apart on a shared machine needs calls of milliseconds, not the ~30 µs of the small
references at batch 1: `--batches 32,256` and `--zoo` give those. Each round's ratio is paired
(native and imported timed back to back, the order alternating), each side the fastest call of a
block of about `--block-ms` of calls (`--statistic median` for the median: on a loaded machine the
calls other processes preempt only add time); the table gives the median over rounds, its min-max, and a verdict:
"within 10%" (every round at or under 1.10), "slower" (every round above), "within noise" (the
range straddles 1.10); "faster" when every round is under 1.00.

TensorFlow: every Keras reference model round-tripped Keras -> ONNX -> TF, and the torch CNN imported
into TF. The imported module's function is wrapped in `tf.function(jit_compile=True)` (XLA); its
output is checked against the plain call, and its speed-up over the plain tf.function is reported,
beside Keras's own (the Keras model under tf.function with and without jit_compile).

    .venv/bin/python scripts/bench_compile.py [--rounds 7] [--only torch|tensorflow] [--zoo]
                                              [--batches 1,32] [--block-ms 200] [--statistic min]
                                              [--models torch_cnn,keras_cnn] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))
sys.path.insert(0, str(SCRIPTS))

import numpy as np  # noqa: E402
from bench_importers import (  # noqa: E402
    BATCH_SIZES,
    ZOO,
    Pair,
    at_batch,
    keras_function,
    measure,
    native_source,
    onnx_of,
    set_threads,
    tensorflow_caller,
    torch_caller,
)

from models import references  # noqa: E402

COMPILED_GOAL = 1.10  # compiled imported / compiled native
PARITY_TOLERANCE = 1e-4
MAX_BLOCK_CALLS = 5000


def block_calls(pair: Pair, block_seconds: float) -> int:
    """Calls per timing block: about `block_seconds` of the slower side (at least 5)."""
    slowest = 0.0
    for call in (pair.native, pair.imported):
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
        slowest = max(slowest, statistics.median(samples))
    return int(min(MAX_BLOCK_CALLS, max(5, block_seconds / max(slowest, 1e-7))))


def timed(pair: Pair, rounds: int, block_seconds: float, statistic: str = "min"):
    return measure(pair, rounds, block_calls(pair, block_seconds), statistic)


def verdict(ratios: list[float], goal: float = COMPILED_GOAL) -> str:
    """Against the goal, from the spread of the paired per-round ratios."""
    low, high = min(ratios), max(ratios)
    if high < 1.0:
        return "faster"
    if high <= goal:
        return f"within {round((goal - 1) * 100)}%"
    return "slower" if low > goal else "within noise"


def graph_breaks(module, inputs) -> tuple[int, list[str]]:
    """torch._dynamo.explain's break count and the first line of each reason."""
    import torch

    torch._dynamo.reset()
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs)
    explanation = torch._dynamo.explain(module)(*tensors)
    reasons = [reason.reason.splitlines()[0] for reason in explanation.break_reasons]
    return explanation.graph_break_count, reasons


def _max_difference(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def torch_rows(
    names, rounds: int, batches=BATCH_SIZES, block_seconds: float = 0.2, statistic: str = "min"
) -> list[dict]:
    import torch

    from toolkit.importers.torch import import_onnx

    rows = []
    for name in names:
        native, examples = native_source(name)
        imported = import_onnx(onnx_of(native, examples))
        breaks, reasons = graph_breaks(imported, examples)
        for batch in batches:
            inputs = at_batch(examples, batch)
            torch._dynamo.reset()
            # Static shapes per batch size: each batch is its own compiled graph, for both sides alike.
            compiled_native = torch.compile(native, backend="inductor", dynamic=False)
            compiled_imported = torch.compile(imported, backend="inductor", dynamic=False)
            tensors = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs)
            with torch.no_grad():
                difference = _max_difference(compiled_imported(*tensors), native(*tensors))
            eager = timed(
                Pair("torch", name, batch, torch_caller(native, inputs), torch_caller(imported, inputs)),
                rounds,
                block_seconds,
                statistic,
            )
            compiled = timed(
                Pair(
                    "torch",
                    name,
                    batch,
                    torch_caller(compiled_native, inputs),
                    torch_caller(compiled_imported, inputs),
                ),
                rounds,
                block_seconds,
                statistic,
            )
            rows.append(
                {
                    "framework": "torch",
                    "model": name,
                    "batch": batch,
                    "graph_breaks": breaks,
                    "break_reasons": reasons,
                    "max_abs_diff_compiled_vs_native": difference,
                    "native_speedup": eager.native_ms / compiled.native_ms,
                    "imported_speedup": eager.imported_ms / compiled.imported_ms,
                    "eager_ratio": eager.ratio,
                    "compiled_native_ms": compiled.native_ms,
                    "compiled_imported_ms": compiled.imported_ms,
                    "compiled_ratio": compiled.ratio,
                    "compiled_ratio_min": min(compiled.ratios),
                    "compiled_ratio_max": max(compiled.ratios),
                    "compiled_ratios": compiled.ratios,
                    "verdict": verdict(compiled.ratios),
                }
            )
    return rows


def tensorflow_rows(
    names, rounds: int, batches=BATCH_SIZES, block_seconds: float = 0.2, statistic: str = "min"
) -> list[dict]:
    import tensorflow as tf

    from toolkit.importers.tensorflow import import_onnx

    cases = [(f"{name} (round trip)", name, name) for name in names if name.startswith("keras_")]
    if "torch_cnn" in names or "keras_cnn" in names:
        cases.append(("torch_cnn -> TF vs keras_cnn", "torch_cnn", "keras_cnn"))
    rows = []
    for label, source_name, keras_name in cases:
        source, source_examples = native_source(source_name)
        keras_model, keras_examples = native_source(keras_name)
        imported = import_onnx(onnx_of(source, source_examples))
        imported_xla = tf.function(lambda *xs, module=imported: module(*xs), jit_compile=True)
        keras_plain = keras_function(keras_model)
        keras_xla = tf.function(
            lambda *xs, model=keras_model: model(list(xs) if len(xs) > 1 else xs[0], training=False),
            jit_compile=True,
        )
        for batch in batches:
            inputs = at_batch(source_examples, batch)
            native_inputs = at_batch(keras_examples, batch)
            tensors = tuple(tf.constant(x) for x in inputs)
            try:
                difference = _max_difference(imported_xla(*tensors), imported(*tensors))
                error = None
            except Exception as failure:  # XLA refuses an op: report it, keep measuring the rest
                difference, error = float("nan"), f"{type(failure).__name__}: {str(failure).splitlines()[0]}"
            row = {
                "framework": "tensorflow",
                "model": label,
                "batch": batch,
                "xla_error": error,
                "max_abs_diff_xla_vs_plain": difference,
            }
            if error is None:
                plain = timed(
                    Pair(
                        "tensorflow",
                        label,
                        batch,
                        tensorflow_caller(keras_plain, native_inputs),
                        tensorflow_caller(imported, inputs),
                    ),
                    rounds,
                    block_seconds,
                    statistic,
                )
                xla = timed(
                    Pair(
                        "tensorflow",
                        label,
                        batch,
                        tensorflow_caller(keras_xla, native_inputs),
                        tensorflow_caller(imported_xla, inputs),
                    ),
                    rounds,
                    block_seconds,
                    statistic,
                )
                row.update(
                    native_speedup=plain.native_ms / xla.native_ms,
                    imported_speedup=plain.imported_ms / xla.imported_ms,
                    eager_ratio=plain.ratio,
                    compiled_native_ms=xla.native_ms,
                    compiled_imported_ms=xla.imported_ms,
                    compiled_ratio=xla.ratio,
                    compiled_ratio_min=min(xla.ratios),
                    compiled_ratio_max=max(xla.ratios),
                    compiled_ratios=xla.ratios,
                    verdict=verdict(xla.ratios),
                )
            rows.append(row)
    return rows


def print_table(rows: list[dict], rounds: int) -> None:
    from rich.table import Table

    from toolkit.terminal import console

    table = Table(
        title=f"Compiled: torch.compile (inductor) / tf.function(jit_compile=True), {rounds} interleaved rounds"
    )
    columns = ("framework", "model", "batch", "breaks", "native speed-up", "imported speed-up")
    columns = (*columns, "compiled native ms", "uncompiled ratio", "compiled ratio", "min-max", "verdict")
    for column in (*columns, "note"):
        left = column in ("framework", "model", "verdict", "note")
        table.add_column(column, justify="left" if left else "right")
    for row in rows:
        if row.get("xla_error"):
            blank = [""] * (len(columns) - 3)
            table.add_row(row["framework"], row["model"], str(row["batch"]), *blank, row["xla_error"])
            continue
        ratio = row["compiled_ratio"]
        ratio_text = f"{ratio:.2f}x" if ratio <= COMPILED_GOAL else f"[red]{ratio:.2f}x[/red]"
        breaks = row.get("graph_breaks")
        difference = row.get("max_abs_diff_compiled_vs_native", row.get("max_abs_diff_xla_vs_plain"))
        table.add_row(
            row["framework"],
            row["model"],
            str(row["batch"]),
            "" if breaks is None else str(breaks),
            f"{row['native_speedup']:.2f}x",
            f"{row['imported_speedup']:.2f}x",
            f"{row['compiled_native_ms']:.3f}",
            f"{row['eager_ratio']:.2f}x",
            ratio_text,
            f"{row['compiled_ratio_min']:.2f}-{row['compiled_ratio_max']:.2f}",
            row["verdict"],
            f"max |diff| {difference:.1e}",
        )
    console().print(table)


def main(argv=None) -> int:
    from toolkit import progress
    from toolkit.io import atomic_output

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--batches", default=",".join(map(str, BATCH_SIZES)), help="comma-separated batch sizes"
    )
    parser.add_argument("--block-ms", type=float, default=200.0, help="time per timing block, each side (ms)")
    parser.add_argument(
        "--statistic",
        choices=("min", "median"),
        default="min",
        help="per timing block: the fastest call (robust to other processes) or the median",
    )
    parser.add_argument("--only", choices=("torch", "tensorflow"), default=None)
    parser.add_argument("--zoo", action="store_true", help="add BERT, ViT and LLaMA-style twins (torch)")
    parser.add_argument(
        "--models", default=None, help="comma-separated model names (default: all references)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads (0: the frameworks' default)"
    )
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args(argv)
    if arguments.threads:
        set_threads(arguments.threads)
    batches = tuple(int(b) for b in arguments.batches.split(",") if b.strip())
    block_seconds = arguments.block_ms / 1e3
    if arguments.models:
        names = [m.strip() for m in arguments.models.split(",") if m.strip()]
    else:
        names = [*references("torch"), *references("keras"), *(ZOO if arguments.zoo else ())]
    rows = []
    with progress.shown():
        if arguments.only in (None, "torch"):
            with progress.activity("torch.compile"):
                torch_names = [n for n in names if n.startswith("torch_") or n in ZOO]
                rows += torch_rows(torch_names, arguments.rounds, batches, block_seconds, arguments.statistic)
        if arguments.only in (None, "tensorflow"):
            with progress.activity("tf.function(jit_compile=True)"):
                rows += tensorflow_rows(names, arguments.rounds, batches, block_seconds, arguments.statistic)
    print_table(rows, arguments.rounds)
    if arguments.json:
        with atomic_output(arguments.json) as temporary:
            document = {"rounds": arguments.rounds, "statistic": arguments.statistic, "rows": rows}
            temporary.write_text(json.dumps(document, indent=2))
    failed = any(row.get("graph_breaks") or row.get("xla_error") for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
