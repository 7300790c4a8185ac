"""Reduced-precision ONNX (int8 dynamic, int8 static QDQ, fp16), each with a report against the float model.

`variants.py` makes a variant with onnxruntime's tools, `report.py` measures it and finds the node
where its error jumps, `keep_fp32.py` searches for the few nodes to leave in float32, and
`command.py` is `toolkit quantize`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from toolkit.calibration import batches, load_calibration, random_calibration
from toolkit.errors import UsageError
from toolkit.io import save_onnx
from toolkit.quantize.report import VariantReport, node_errors, output_metrics
from toolkit.quantize.variants import MODES, named, quantize

# Rows of data the report compares on, and of those, rows the node-by-node localisation runs.
EVALUATION_ROWS = 64
LOCALISATION_ROWS = 8


@dataclass
class Target:
    """The tolerance --keep-fp32 auto must meet: top-1 agreement or cosine at least `value`."""

    metric: str
    value: float

    def met(self, report: VariantReport) -> bool:
        measured = report.top1_agreement if self.metric == "top1" else report.cosine
        return measured is not None and measured >= self.value

    def __str__(self) -> str:
        return f"{self.metric} >= {self.value:g}"


def parse_target(text: str) -> Target:
    metric, _, value = text.partition(":")
    if metric not in ("top1", "cosine") or not value:
        raise UsageError(f"--target {text}: expected top1:0.99 or cosine:0.999")
    try:
        return Target(metric, float(value))
    except ValueError:
        raise UsageError(f"--target {text}: {value!r} is not a number") from None


@dataclass
class Evaluation:
    """The float model, its outputs on the evaluation rows, and how to measure a variant against them."""

    model: onnx.ModelProto
    path: Path
    rows: dict[str, np.ndarray]
    expected: list[np.ndarray]
    output_names: list[str]
    float_bytes: int
    bench_seconds: float

    def report(
        self, variant: onnx.ModelProto, name: str, directory: Path, localize: bool = True
    ) -> VariantReport:
        from toolkit.runtime import OnnxRuntimeModel

        variant_path = directory / f"{name}.onnx"
        save_onnx(variant, variant_path)
        session = OnnxRuntimeModel(variant_path, provider="cpu")
        got = _run_rows(session, self.rows, self.output_names)
        report = VariantReport(
            name,
            output_metrics(self.output_names, self.expected, got),
            self.float_bytes,
            variant_path.stat().st_size,
        )
        if localize:
            feeds = {k: v[:LOCALISATION_ROWS] for k, v in self.rows.items()}
            report.worst_nodes = node_errors(self.model, variant, feeds)
        if self.bench_seconds > 0:
            report.latency_ms, report.latency_ratio = latency_ratio(
                self.path, variant_path, self.bench_seconds
            )
        return report


def evaluation(
    model: onnx.ModelProto, samples: dict[str, np.ndarray] | None, directory: Path, bench_seconds: float
):
    """Evaluation rows: the user's calibration data when given, else seeded random rows."""
    from toolkit.calibration import graph_inputs
    from toolkit.runtime import OnnxRuntimeModel

    model = named(model)
    path = directory / "float.onnx"
    save_onnx(model, path)
    rows = (
        samples if samples is not None else random_calibration(graph_inputs(model), EVALUATION_ROWS, seed=1)
    )
    session = OnnxRuntimeModel(path, provider="cpu")
    names = list(session.output_names)
    return Evaluation(
        model, path, rows, _run_rows(session, rows, names), names, path.stat().st_size, bench_seconds
    )


def _run_rows(session, rows, names) -> list[np.ndarray]:
    """Outputs row by row, concatenated: a static-batch model takes one sample at a time."""
    parts = [session.run(feeds, names) for feeds in batches(rows, 1)]
    return [np.concatenate([p[name] for p in parts]) for name in names]


def latency_ratio(float_path: Path, variant_path: Path, seconds: float, rounds: int = 3):
    """Median p50 (ms) of each, from `toolkit bench`'s in-process loop, interleaved; variant / float."""
    from toolkit.serve.bench import bench_in_process

    float_p50, variant_p50 = [], []
    for _ in range(rounds):
        float_p50.append(bench_in_process(float_path, provider="cpu", duration_s=seconds / rounds)[0].p50_ms)
        variant_p50.append(
            bench_in_process(variant_path, provider="cpu", duration_s=seconds / rounds)[0].p50_ms
        )
    reference, candidate = float(np.median(float_p50)), float(np.median(variant_p50))
    return (reference, candidate), candidate / reference


def quantize_with_report(
    model: onnx.ModelProto,
    mode: str,
    calibration: str | Path | None = None,
    per_channel: bool = False,
    keep_fp32: Sequence[str] | str = (),
    target: Target | None = None,
    bench_seconds: float = 1.5,
    label: str = "model",
) -> tuple[onnx.ModelProto, VariantReport]:
    """The variant and its report; `keep_fp32="auto"` searches for the nodes to keep in float32."""
    if mode not in MODES:
        raise UsageError(f"--mode {mode}: choose one of {', '.join(MODES)}")
    if calibration is not None and mode != "static":
        raise UsageError(f"--calibration is for --mode static (got {mode})")
    samples = (
        load_calibration(model, calibration, purpose="static quantization") if mode == "static" else None
    )
    with tempfile.TemporaryDirectory(prefix="toolkit-quantize-") as name:
        directory = Path(name)
        started = time.perf_counter()
        check = evaluation(model, samples if calibration is not None else None, directory, bench_seconds)
        if keep_fp32 == "auto":
            from toolkit.quantize.keep_fp32 import search

            variant, report = search(check, mode, samples, per_channel, target, directory, label)
        else:
            variant = quantize(check.model, mode, samples, per_channel, list(keep_fp32), label)
            report = check.report(variant, mode, directory)
            report.kept_fp32 = list(keep_fp32)
        report.search.append(f"done in {time.perf_counter() - started:.1f} s")
    return variant, report
