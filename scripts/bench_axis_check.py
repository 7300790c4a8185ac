"""What the second-size run after a dynamo export costs, against the export itself.

    python scripts/bench_axis_check.py [--models gpt2_with_mask,bert_with_mask] [--repeats 5]

Per zoo model: the dynamo export (toolkit's export_torch, the check included, once), then
`axis_check.fixed_axes` alone, `--repeats` times; prints median and min-max of the check and its
ratio to the export. Models over `axis_check.CHECKED_WEIGHT_LIMIT` skip the run (ratio 0).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_MODELS = ("gpt2_with_mask", "bert_with_mask", "lstm_bidirectional", "vit", "gru_bidirectional")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from toolkit.quiet import quiet_frameworks

    quiet_frameworks()
    import torch

    from toolkit.export import axis_check
    from toolkit.export.torch import _as_tensor, _resolve_dynamic_axes, axis_labels, export_torch
    from toolkit.sources import load_source
    from zoo import ZOO

    table = Table(title="second-size run after a dynamo export (CPU, shared machine: noisy)")
    for column in ("model", "exporter", "export s", "check s (median)", "check min-max", "check / export"):
        table.add_column(column, justify="left" if column in ("model", "exporter") else "right")
    for name in options.models.split(","):
        module_name, _, function = ZOO[name].partition(":")
        model, inputs = getattr(importlib.import_module(module_name), function)()
        source = load_source(model, inputs)
        started = time.perf_counter()
        result = export_torch(
            source.model,
            source.example_inputs,
            input_names=source.input_names,
            keyword_inputs=source.keyword_inputs,
        )
        export_seconds = time.perf_counter() - started
        tensors = tuple(_as_tensor(x) for x in source.example_inputs)
        names = list(source.input_names)
        axes = _resolve_dynamic_axes(names, tensors, None)
        labels = axis_labels(names, tensors, axes)
        seconds = []
        with torch.no_grad():
            for _ in range(options.repeats):
                started = time.perf_counter()
                axis_check.fixed_axes(
                    source.model, result.model, names, tensors, labels, source.keyword_inputs
                )
                seconds.append(time.perf_counter() - started)
        median = statistics.median(seconds)
        table.add_row(
            name,
            result.exporter.removeprefix("torch.onnx "),
            f"{export_seconds:.2f}",
            f"{median:.3f}",
            f"{min(seconds):.3f}-{max(seconds):.3f}",
            f"{median / export_seconds:.3f}",
        )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
