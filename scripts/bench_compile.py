"""Compiled imported models against their compiled native twins: torch.compile (inductor) and XLA.

torch: every torch reference model (and BERT, ViT, LLaMA-style twins with --zoo) round-tripped
torch -> ONNX -> torch. Per model: the graph breaks `torch._dynamo.explain` finds in the imported
module; then, per batch size, interleaved rounds (as in bench_importers.py) of eager and of
`torch.compile(..., backend="inductor")`, native and imported. Reported: each side's compiled
speed-up (eager / compiled), and compiled imported / compiled native (the goal: within 1.10).

TensorFlow: every Keras reference model round-tripped Keras -> ONNX -> TF, and the torch CNN imported
into TF. The imported module's function is wrapped in `tf.function(jit_compile=True)` (XLA); its
output is checked against the plain call, and its speed-up over the plain tf.function is reported,
beside Keras's own (the Keras model under tf.function with and without jit_compile).

    .venv/bin/python scripts/bench_compile.py [--rounds 5] [--only torch|tensorflow] [--zoo]
                                              [--models torch_cnn,keras_cnn] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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


def torch_rows(names, rounds: int) -> list[dict]:
    import torch

    from toolkit.importers.torch import import_onnx

    rows = []
    for name in names:
        native, examples = native_source(name)
        imported = import_onnx(onnx_of(native, examples))
        breaks, reasons = graph_breaks(imported, examples)
        for batch in BATCH_SIZES:
            inputs = at_batch(examples, batch)
            torch._dynamo.reset()
            # Static shapes per batch size: each batch is its own compiled graph, for both sides alike.
            compiled_native = torch.compile(native, backend="inductor", dynamic=False)
            compiled_imported = torch.compile(imported, backend="inductor", dynamic=False)
            tensors = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs)
            with torch.no_grad():
                difference = _max_difference(compiled_imported(*tensors), native(*tensors))
            eager = measure(
                Pair("torch", name, batch, torch_caller(native, inputs), torch_caller(imported, inputs)),
                rounds,
                0,
            )
            compiled = measure(
                Pair(
                    "torch",
                    name,
                    batch,
                    torch_caller(compiled_native, inputs),
                    torch_caller(compiled_imported, inputs),
                ),
                rounds,
                0,
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
                    "compiled_ratio": compiled.ratio,
                    "compiled_ratio_min": min(compiled.ratios),
                    "compiled_ratio_max": max(compiled.ratios),
                }
            )
    return rows


def tensorflow_rows(names, rounds: int) -> list[dict]:
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
        for batch in BATCH_SIZES:
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
                plain = measure(
                    Pair(
                        "tensorflow",
                        label,
                        batch,
                        tensorflow_caller(keras_plain, native_inputs),
                        tensorflow_caller(imported, inputs),
                    ),
                    rounds,
                    0,
                )
                xla = measure(
                    Pair(
                        "tensorflow",
                        label,
                        batch,
                        tensorflow_caller(keras_xla, native_inputs),
                        tensorflow_caller(imported_xla, inputs),
                    ),
                    rounds,
                    0,
                )
                row.update(
                    native_speedup=plain.native_ms / xla.native_ms,
                    imported_speedup=plain.imported_ms / xla.imported_ms,
                    eager_ratio=plain.ratio,
                    compiled_ratio=xla.ratio,
                    compiled_ratio_min=min(xla.ratios),
                    compiled_ratio_max=max(xla.ratios),
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
    for column in (*columns, "uncompiled ratio", "compiled ratio", "min-max", "note"):
        table.add_column(column, justify="left" if column in ("framework", "model", "note") else "right")
    for row in rows:
        if row.get("xla_error"):
            table.add_row(
                row["framework"], row["model"], str(row["batch"]), "", "", "", "", "", "", row["xla_error"]
            )
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
            f"{row['eager_ratio']:.2f}x",
            ratio_text,
            f"{row['compiled_ratio_min']:.2f}-{row['compiled_ratio_max']:.2f}",
            f"max |diff| {difference:.1e}",
        )
    console().print(table)


def main(argv=None) -> int:
    from toolkit import progress
    from toolkit.io import atomic_output

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
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
    if arguments.models:
        names = [m.strip() for m in arguments.models.split(",") if m.strip()]
    else:
        names = [*references("torch"), *references("keras"), *(ZOO if arguments.zoo else ())]
    rows = []
    with progress.shown():
        if arguments.only in (None, "torch"):
            with progress.activity("torch.compile"):
                rows += torch_rows([n for n in names if n.startswith("torch_") or n in ZOO], arguments.rounds)
        if arguments.only in (None, "tensorflow"):
            with progress.activity("tf.function(jit_compile=True)"):
                rows += tensorflow_rows(names, arguments.rounds)
    print_table(rows, arguments.rounds)
    if arguments.json:
        with atomic_output(arguments.json) as temporary:
            temporary.write_text(json.dumps({"rounds": arguments.rounds, "rows": rows}, indent=2))
    failed = any(row.get("graph_breaks") or row.get("xla_error") for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
