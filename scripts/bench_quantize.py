"""int8 (dynamic, static QDQ) and fp16 variants against fp32 in onnxruntime, per reference model: latency and size.

Every variant of one model runs in the same process, interleaved round by round (fp32, dynamic,
static, fp16, fp32, ...), batch 1 on one thread; the ratio per round is variant / fp32 median call
time, and the table gives the median ratio with its min-max spread over the rounds. Static int8 is
calibrated on seeded random data (a warning says so): latency and size do not depend on it.

    .venv/bin/python scripts/bench_quantize.py [--models torch_cnn,keras_cnn] [--rounds 5] [--calls 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
VARIANTS = ("dynamic", "static", "fp16")


def median_call_ms(session, feeds, calls: int) -> float:
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - began)
    return 1000 * float(np.median(times))


def bench_model(name: str, directory: Path, rounds: int, calls: int) -> dict:
    import onnxruntime

    import toolkit
    from toolkit.calibration import graph_inputs, random_calibration
    from toolkit.io import save_onnx
    from toolkit.quantize.variants import named, quantize

    model = named(toolkit.convert(f"models/{name}.py:build", to="onnx"))
    paths = {"fp32": directory / f"{name}.onnx"}
    save_onnx(model, paths["fp32"])
    samples = random_calibration(graph_inputs(model), 32)
    for mode in VARIANTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            variant = quantize(model, mode, samples if mode == "static" else None, label=name)
        paths[mode] = directory / f"{name}.{mode}.onnx"
        save_onnx(variant, paths[mode])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = {
        key: onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for key, path in paths.items()
    }
    feeds = {key: array[:1] for key, array in random_calibration(graph_inputs(model), 1, seed=3).items()}
    for session in sessions.values():  # warm-up: first-run allocations
        session.run(None, feeds)
    ratios = {mode: [] for mode in VARIANTS}
    fp32_ms = []
    for _ in range(rounds):
        reference = median_call_ms(sessions["fp32"], feeds, calls)
        fp32_ms.append(reference)
        for mode in VARIANTS:
            ratios[mode].append(median_call_ms(sessions[mode], feeds, calls) / reference)
    size = paths["fp32"].stat().st_size
    return {
        "model": name,
        "fp32_ms": float(np.median(fp32_ms)),
        "fp32_bytes": size,
        **{
            mode: {
                "latency_ratio": float(np.median(ratios[mode])),
                "spread": [float(min(ratios[mode])), float(max(ratios[mode]))],
                "size_ratio": paths[mode].stat().st_size / size,
            }
            for mode in VARIANTS
        },
    }


def main() -> None:
    import models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(models.REFERENCE_MODELS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--json", default=None)
    arguments = parser.parse_args()
    from rich.table import Table

    from toolkit.terminal import console

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-quantize-") as name:
        for model in arguments.models.split(","):
            rows.append(bench_model(model, Path(name), arguments.rounds, arguments.calls))
            print(f"{model}: done", file=sys.stderr, flush=True)
    table = Table(
        title=f"Variant / fp32 in onnxruntime (batch 1, 1 thread; median of {arguments.rounds} rounds, min-max)"
    )
    table.add_column("model")
    table.add_column("fp32 ms", justify="right")
    for mode in VARIANTS:
        table.add_column(f"{mode} latency ×", justify="right")
        table.add_column(f"{mode} size ×", justify="right")
    for row in rows:
        cells = [row["model"], f"{row['fp32_ms']:.3f}"]
        for mode in VARIANTS:
            low, high = row[mode]["spread"]
            cells += [
                f"{row[mode]['latency_ratio']:.2f} ({low:.2f}-{high:.2f})",
                f"{row[mode]['size_ratio']:.2f}",
            ]
        table.add_row(*cells)
    console().print(table)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
