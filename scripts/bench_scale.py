"""How conversion cost grows with model size: a LLaMA-style decoder at ~100M, ~400M and ~1.2B parameters.

Per size, each step runs in its own subprocess (so one step's memory never hides another's):

    export           build the decoder (random weights, fixed seed), run it once, toolkit.convert → .onnx
                     (weights over 256 MiB go to NAME.onnx.data)
    onnxruntime      load the .onnx in onnxruntime, run, compare with the native logits
    torch            import into torch, run, compare; save a .pt2
    pt2-load         torch.export.load the .pt2 in a fresh process, run, compare
    tensorflow       import into TensorFlow, run, compare; save a SavedModel
    savedmodel-load  tf.saved_model.load in a fresh process, run serving_default, compare

and each phase of a step reports its wall time and its peak RSS above the process's baseline
(RSS after importing the frameworks; the peak is reset between phases through /proc/self/clear_refs).
The goals: every phase's peak at most 2x the weight bytes, seconds per GB about constant across sizes.

A size runs only when `free` shows the memory it needs available (MEMORY_NEEDED_GIB); otherwise it
is reported as skipped.

    .venv/bin/python scripts/bench_scale.py [--sizes 100M,400M,1.2B] [--work-dir out/scale]
                                            [--json out/scale.json] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))
sys.path.insert(0, str(SCRIPTS))

SIZES = ("100M", "400M", "1.2B")
STEPS = ("export", "onnxruntime", "torch", "pt2-load", "tensorflow", "savedmodel-load")
# Memory that must be available (free's "available" column) before a size starts: at least these GiB,
# and the worst step's measured peak (EXPORT_PEAK_RATIO) times the weight bytes.
MEMORY_NEEDED_GIB = {"tiny": 0, "100M": 0, "400M": 6, "1.2B": 14}
# The worst phase peaks under 2x the weights (100M and 400M, README "Performance"): the exporter
# writes external data from the torch tensors, the importers memory-map it.
EXPORT_PEAK_RATIO = 2.0
SEQUENCE = 8
BATCH = 2
PEAK_GOAL = 2.0  # peak RSS above baseline, in weight bytes
# Parity: logits within this fraction of the reference logits' largest magnitude (fp32, reordered sums).
PARITY_TOLERANCE = 1e-3
RESULT_PREFIX = "BENCH_SCALE_RESULT "


# --------------------------------------------------------------------------- memory


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def resident_bytes() -> int:
    return _status_bytes("VmRSS")


def peak_bytes() -> int:
    """The process's peak RSS since the last reset (VmHWM; getrusage's ru_maxrss if /proc lacks it)."""
    try:
        return _status_bytes("VmHWM")
    except (OSError, RuntimeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> bool:
    """Make the peak the current RSS (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def memory_needed_gib(size: str) -> float:
    from transformer_twins import llama_parameters

    weights_gib = llama_parameters(size) * 4 / 2**30
    return max(MEMORY_NEEDED_GIB[size], EXPORT_PEAK_RATIO * weights_gib + 1)


def available_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return 0.0


class Phases:
    """Wall time and peak RSS above the baseline for each phase of one step."""

    def __init__(self):
        self.baseline = resident_bytes()
        self.records: list[dict] = []

    @contextlib.contextmanager
    def phase(self, name: str):
        reset_peak()
        started = time.perf_counter()
        yield
        self.records.append(
            {
                "phase": name,
                "seconds": time.perf_counter() - started,
                "peak_above_baseline": max(0, peak_bytes() - self.baseline),
                "resident_after": max(0, resident_bytes() - self.baseline),
            }
        )


# --------------------------------------------------------------------------- the steps (one per process)


def _paths(work_dir: Path, size: str) -> dict[str, Path]:
    return {
        "onnx": work_dir / f"llama_{size}.onnx",
        "reference": work_dir / f"llama_{size}_reference.npz",
        "pt2": work_dir / f"llama_{size}.pt2",
        "saved_model": work_dir / f"llama_{size}_saved_model",
    }


def _compare(logits, reference_path: Path) -> dict:
    import numpy as np

    reference = np.load(reference_path)["logits"]
    logits = np.asarray(logits)
    difference = (
        float(np.max(np.abs(logits - reference))) if logits.shape == reference.shape else float("inf")
    )
    scale = float(np.max(np.abs(reference)))
    return {"max_abs_diff": difference, "passed": difference <= PARITY_TOLERANCE * max(1.0, scale)}


def step_export(size: str, paths: dict, phases: Phases) -> dict:
    import numpy as np
    import torch
    from transformer_twins import llama, parameter_count, token_ids

    import toolkit

    with phases.phase("build"):
        module = llama(size)
    weight_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    ids = token_ids(BATCH, SEQUENCE, vocab=module.model.config.vocab_size)
    with phases.phase("native run"), torch.no_grad():
        logits = module(torch.from_numpy(ids)).numpy()
    np.savez(paths["reference"], ids=ids, logits=logits)
    with phases.phase("toolkit.convert → onnx"):
        toolkit.convert(module, example_inputs=(ids,), output=paths["onnx"])
    return {"parameters": parameter_count(module), "weight_bytes": weight_bytes}


def step_onnxruntime(size: str, paths: dict, phases: Phases) -> dict:
    import numpy as np
    import onnxruntime

    ids = np.load(paths["reference"])["ids"]
    with phases.phase("session"):
        session = onnxruntime.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    with phases.phase("run"):
        (logits,) = session.run(None, {session.get_inputs()[0].name: ids})
    return _compare(logits, paths["reference"])


def step_torch(size: str, paths: dict, phases: Phases) -> dict:
    import numpy as np
    import torch

    import toolkit
    from toolkit.importers import torch as torch_importer

    ids = torch.from_numpy(np.load(paths["reference"])["ids"])
    with phases.phase("import"):
        module = toolkit.convert(str(paths["onnx"]), to="torch")
    with phases.phase("run"), torch.no_grad():
        logits = module(ids).numpy()
    with phases.phase("save .pt2"):
        torch_importer.save(module, paths["pt2"], example_inputs=(ids,))
    return _compare(logits, paths["reference"])


def step_pt2_load(size: str, paths: dict, phases: Phases) -> dict:
    import numpy as np
    import torch

    ids = torch.from_numpy(np.load(paths["reference"])["ids"])
    with phases.phase("torch.export.load"):
        program = torch.export.load(str(paths["pt2"]))
    with phases.phase("run"), torch.no_grad():
        logits = program.module()(ids).numpy()
    return _compare(logits, paths["reference"])


def step_tensorflow(size: str, paths: dict, phases: Phases) -> dict:
    import numpy as np

    import toolkit
    from toolkit.importers import tensorflow as tensorflow_importer

    ids = np.load(paths["reference"])["ids"]
    with phases.phase("import"):
        module = toolkit.convert(str(paths["onnx"]), to="tensorflow")
    with phases.phase("run (tf.function)"):
        logits = module(ids).numpy()
    with phases.phase("save SavedModel"):
        tensorflow_importer.save_saved_model(module, paths["saved_model"])
    return _compare(logits, paths["reference"])


def step_savedmodel_load(size: str, paths: dict, phases: Phases) -> dict:
    import numpy as np
    import tensorflow as tf

    ids = np.load(paths["reference"])["ids"]
    with phases.phase("tf.saved_model.load"):
        loaded = tf.saved_model.load(str(paths["saved_model"]))
    with phases.phase("run serving_default"):
        serve = loaded.signatures["serving_default"]
        (logits,) = serve(**{next(iter(serve.structured_input_signature[1])): tf.constant(ids)}).values()
    return _compare(logits.numpy(), paths["reference"])


STEP_FUNCTIONS = {
    "export": step_export,
    "onnxruntime": step_onnxruntime,
    "torch": step_torch,
    "pt2-load": step_pt2_load,
    "tensorflow": step_tensorflow,
    "savedmodel-load": step_savedmodel_load,
}
# What each step imports before its baseline is read: the frameworks' own footprint is not the model's.
STEP_FRAMEWORKS = {
    "export": ("torch", "transformers", "onnx", "onnxscript"),
    "onnxruntime": ("onnxruntime",),
    "torch": ("torch", "onnx"),
    "pt2-load": ("torch",),
    "tensorflow": ("tensorflow", "onnx"),
    "savedmodel-load": ("tensorflow",),
}


def run_step(step: str, size: str, work_dir: Path) -> dict:
    import importlib

    for framework in STEP_FRAMEWORKS[step]:
        importlib.import_module(framework)
    import toolkit.api  # noqa: F401  (the toolkit's own imports are not the model's memory either)

    phases = Phases()
    result = STEP_FUNCTIONS[step](size, _paths(work_dir, size), phases)
    return {"step": step, "size": size, "phases": phases.records, **result}


# --------------------------------------------------------------------------- the driver


def run_size(size: str, work_dir: Path, steps, keep: bool) -> list[dict]:
    from toolkit.progress import activity

    work_dir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for step in steps:
            with activity(f"{size}: {step}"):
                command = [
                    sys.executable,
                    __file__,
                    "--step",
                    step,
                    "--size",
                    size,
                    "--work-dir",
                    str(work_dir),
                ]
                started = time.perf_counter()
                completed = subprocess.run(command, capture_output=True, text=True)
                elapsed = time.perf_counter() - started
            lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
            if completed.returncode != 0 or not lines:
                tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
                results.append({"step": step, "size": size, "error": tail[0], "process_seconds": elapsed})
                break  # later steps read this step's files
            result = json.loads(lines[-1][len(RESULT_PREFIX) :])
            result["process_seconds"] = elapsed
            results.append(result)
    finally:
        if not keep:
            for path in _paths(work_dir, size).values():
                for candidate in (path, path.with_name(path.name + ".data")):
                    if candidate.is_dir():
                        shutil.rmtree(candidate, ignore_errors=True)
                    else:
                        candidate.unlink(missing_ok=True)
    return results


def _gb(value: float) -> str:
    return f"{value / 1e9:.2f}"


def print_tables(report: dict) -> None:
    from rich.table import Table

    from toolkit.terminal import console

    summary = Table(
        title="LLaMA-style decoder: conversion cost by size (peak RSS above each process's baseline)"
    )
    for column in (
        "size",
        "parameters",
        "weights GB",
        "step",
        "phase",
        "s",
        "s/GB",
        "peak GB",
        "peak/weights",
    ):
        summary.add_column(column, justify="left" if column in ("size", "step", "phase") else "right")
    summary.add_column("parity")
    for size, entry in report["sizes"].items():
        if "skipped" in entry:
            summary.add_row(size, "", "", "", "", "", "", "", "", f"skipped: {entry['skipped']}")
            continue
        weight_bytes = entry["weight_bytes"]
        first = True
        for result in entry["steps"]:
            if "error" in result:
                summary.add_row(
                    size, "", "", result["step"], "", "", "", "", "", f"[red]error: {result['error']}"
                )
                continue
            parity = ""
            if "max_abs_diff" in result:
                mark = "pass" if result["passed"] else "[red]FAIL[/red]"
                parity = f"{mark} ({result['max_abs_diff']:.1e})"
            for index, record in enumerate(result["phases"]):
                ratio = record["peak_above_baseline"] / weight_bytes
                summary.add_row(
                    size if first else "",
                    f"{entry['parameters'] / 1e6:.0f}M" if first else "",
                    _gb(weight_bytes) if first else "",
                    result["step"] if index == 0 else "",
                    record["phase"],
                    f"{record['seconds']:.1f}",
                    f"{record['seconds'] / (weight_bytes / 1e9):.1f}",
                    _gb(record["peak_above_baseline"]),
                    f"[red]{ratio:.2f}x[/red]" if ratio > PEAK_GOAL else f"{ratio:.2f}x",
                    parity if index == len(result["phases"]) - 1 else "",
                )
                first = False
    console().print(summary)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=",".join(SIZES), help="comma-separated: " + ", ".join(MEMORY_NEEDED_GIB)
    )
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--work-dir", type=Path, default=Path("out/scale"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the .onnx, .pt2 and SavedModel files")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # one step, in this process
    parser.add_argument("--size", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.step:
        result = run_step(arguments.step, arguments.size, arguments.work_dir)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    from toolkit import progress
    from toolkit.io import atomic_output

    sizes = [s.strip() for s in arguments.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in MEMORY_NEEDED_GIB]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(MEMORY_NEEDED_GIB)}")
    steps = [s.strip() for s in arguments.steps.split(",") if s.strip()]
    report: dict = {"sequence": SEQUENCE, "batch": BATCH, "sizes": {}}
    with progress.shown():
        for size in sizes:
            available = available_gib()
            needed = memory_needed_gib(size)
            if available < needed:
                reason = f"{available:.1f} GiB available, {needed:.0f} GiB needed"
                report["sizes"][size] = {"skipped": reason}
                continue
            results = run_size(size, arguments.work_dir, steps, arguments.keep)
            export = next((r for r in results if r.get("step") == "export" and "error" not in r), None)
            if export is None:
                error = results[0].get("error", "export did not run") if results else "no step ran"
                report["sizes"][size] = {"skipped": f"export failed: {error}"}
                continue
            report["sizes"][size] = {
                "parameters": export["parameters"],
                "weight_bytes": export["weight_bytes"],
                "available_gib_before": available,
                "steps": results,
            }
    print_tables(report)
    if arguments.json:
        with atomic_output(arguments.json) as temporary:
            temporary.write_text(json.dumps(report, indent=2))
    failed = any(
        "error" in r or not r.get("passed", True)
        for entry in report["sizes"].values()
        for r in entry.get("steps", [])
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
