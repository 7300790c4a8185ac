"""ONNX → TFLite: toolkit's converter against onnx2tf on the same ONNX files; conversion time and LiteRT latency.

onnx2tf pins TensorFlow 2.19 and numpy 1.26, so it runs in its own venv (`make .venv-onnx2tf`),
one subprocess per model that imports onnx2tf once and times each conversion inside itself
(TensorFlow's import is excluded on both sides). toolkit converts in this process. Rounds
alternate: toolkit, onnx2tf, toolkit, ... Both .tflite files then run on the LiteRT interpreter
in this process, batch 1, one thread, interleaved round by round; ratios are toolkit / onnx2tf
(conversion: lower is faster; latency: at most 1 meets the goal).

    .venv/bin/python scripts/bench_tflite.py [--models torch_cnn,keras_cnn] [--rounds 3] [--calls 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
ONNX2TF_PYTHON = REPOSITORY / ".venv-onnx2tf" / "bin" / "python"
# The TF importer's GRU loses a static batch of 1 in its while loop; 2 converts (as in tests/tflite).
STATIC_BATCH = {"torch_rnn": 2}

# Run inside .venv-onnx2tf: convert `rounds` times, print one JSON line of seconds (or the error).
ONNX2TF_DRIVER = r"""
import json, sys, time, os, shutil, contextlib, io
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import onnx2tf
onnx_path, out_dir, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
seconds = []
try:
    for index in range(rounds):
        shutil.rmtree(out_dir, ignore_errors=True)
        began = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            onnx2tf.convert(input_onnx_file_path=onnx_path, output_folder_path=out_dir, non_verbose=True)
        seconds.append(time.perf_counter() - began)
    print(json.dumps({"seconds": seconds}))
except BaseException as error:
    print(json.dumps({"seconds": seconds, "error": f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"}))
"""


def onnx2tf_convert(onnx_path: Path, out_dir: Path, rounds: int) -> dict:
    result = subprocess.run(
        [str(ONNX2TF_PYTHON), "-c", ONNX2TF_DRIVER, str(onnx_path), str(out_dir), str(rounds)],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHONPATH": ""},
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"seconds": [], "error": tail}
    outcome = json.loads(lines[-1])
    files = sorted(out_dir.glob("*_float32.tflite"))
    outcome["tflite"] = str(files[0]) if files else None
    return outcome


def litert_runner(path: str):
    from ai_edge_litert.interpreter import Interpreter

    from toolkit.calibration import random_calibration
    from toolkit.quiet import stderr_silenced

    with stderr_silenced():
        interpreter = Interpreter(model_path=path, num_threads=1)
        runner = interpreter.get_signature_runner()
    details = runner.get_input_details()
    specs = [
        (key, np.dtype(d["dtype"]), tuple(int(s) for s in d["shape_signature"])) for key, d in details.items()
    ]
    feeds = {key: value for key, value in random_calibration(specs, 1, seed=3).items()}
    for key, spec in zip(feeds, specs, strict=True):
        feeds[key] = feeds[key].reshape([1 if s < 0 else s for s in spec[2]])
    with stderr_silenced():
        runner(**feeds)
    return lambda: runner(**feeds)


def median_call_ms(call, calls: int) -> float:
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return 1000 * float(np.median(times))


def bench_model(name: str, directory: Path, rounds: int, calls: int) -> dict:
    import toolkit

    onnx_path = directory / f"{name}.onnx"
    toolkit.convert(f"models/{name}.py:build", to="onnx", output=onnx_path)
    ours_path = directory / f"{name}.tflite"
    options = {"static_batch": STATIC_BATCH[name]} if name in STATIC_BATCH else {}
    ours = []
    for _ in range(rounds):
        began = time.perf_counter()
        toolkit.convert(str(onnx_path), to="tflite", output=ours_path, **options)
        ours.append(time.perf_counter() - began)
    # One onnx2tf process does all its rounds (its TF import is paid once, as ours is).
    theirs = onnx2tf_convert(onnx_path, directory / f"{name}_onnx2tf", rounds)
    row = {
        "model": name,
        "toolkit_s": ours,
        "onnx2tf_s": theirs["seconds"],
        "onnx2tf_error": theirs.get("error"),
    }
    if theirs["seconds"]:
        row["conversion_speedup"] = float(np.median(theirs["seconds"]) / np.median(ours))
    if theirs.get("tflite") and not theirs.get("error"):
        call_ours = litert_runner(str(ours_path))
        try:
            call_theirs = litert_runner(theirs["tflite"])
        except RuntimeError as error:  # e.g. onnx2tf emitted Select TF ops, which LiteRT does not link
            row["onnx2tf_error"] = f"LiteRT cannot run its .tflite: {str(error).splitlines()[0][:80]}"
            return row
        ratios = []
        for _ in range(rounds):
            mine, other = median_call_ms(call_ours, calls), median_call_ms(call_theirs, calls)
            ratios.append(mine / other)
        row["latency_ratio"] = float(np.median(ratios))
        row["latency_spread"] = [float(min(ratios)), float(max(ratios))]
        row["toolkit_ms"], row["onnx2tf_ms"] = mine, other
    return row


def main() -> None:
    import models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(models.REFERENCE_MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", default=None)
    arguments = parser.parse_args()
    if not ONNX2TF_PYTHON.exists():
        sys.exit("scripts/bench_tflite.py: no .venv-onnx2tf; run `make .venv-onnx2tf` first")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow  # noqa: F401  imported before timing, as onnx2tf's is in its process
    from rich.table import Table

    from toolkit.terminal import console

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-tflite-") as name:
        for model in arguments.models.split(","):
            rows.append(bench_model(model, Path(name), arguments.rounds, arguments.calls))
            print(f"{model}: {rows[-1]}", file=sys.stderr, flush=True)
    table = Table(
        title=f"ONNX → TFLite: toolkit vs onnx2tf (median of {arguments.rounds} rounds; latency min-max)"
    )
    for column in (
        "model",
        "toolkit s",
        "onnx2tf s",
        "conversion ×faster",
        "toolkit ms",
        "onnx2tf ms",
        "latency ratio",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        spread = row.get("latency_spread")
        table.add_row(
            row["model"],
            f"{np.median(row['toolkit_s']):.2f}",
            f"{np.median(row['onnx2tf_s']):.2f}"
            if row["onnx2tf_s"]
            else f"failed: {row['onnx2tf_error']}"[:60],
            f"{row['conversion_speedup']:.1f}" if "conversion_speedup" in row else "-",
            f"{row['toolkit_ms']:.3f}" if "toolkit_ms" in row else "-",
            f"{row['onnx2tf_ms']:.3f}" if "onnx2tf_ms" in row else "-",
            f"{row['latency_ratio']:.2f} ({spread[0]:.2f}-{spread[1]:.2f})" if spread else "-",
        )
    console().print(table)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
