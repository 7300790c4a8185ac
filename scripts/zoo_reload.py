"""Reload saved artifacts in a fresh process WITHOUT the toolkit and check them against recorded outputs.

    python scripts/zoo_reload.py MANIFEST.json RESULTS.json

The manifest lists, per model and artifact kind (pt2, py, saved_model), the artifact and an .npz of
cases (`case<i>/in/<name>`, `case<i>/out/<name>` in graph order) written by scripts/run_zoo.py.
One process serves every artifact of one framework (torch: .pt2 and .py; TensorFlow: SavedModel),
so each framework loads once. Results are keyed "model/kind". This file must never import toolkit.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

RTOL, ATOL = 1e-3, 1e-4


def _cases(npz_path: str) -> list[tuple[dict, dict]]:
    data = np.load(npz_path, allow_pickle=False)
    count = 1 + max(int(key.split("/")[0][4:]) for key in data.files)
    cases = []
    for index in range(count):
        prefix = f"case{index}/"
        inputs = {k.split("/", 2)[2]: data[k] for k in data.files if k.startswith(prefix + "in/")}
        outputs = {k.split("/", 2)[2]: data[k] for k in data.files if k.startswith(prefix + "out/")}
        cases.append((inputs, outputs))
    return cases


def _error(expected: np.ndarray, actual: np.ndarray) -> tuple[bool, float]:
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        return False, float("inf")
    if expected.dtype.kind in "biu":
        return bool(np.array_equal(expected, actual)), float(
            np.max(np.abs(expected.astype(np.float64) - actual), initial=0)
        )
    difference = np.abs(expected.astype(np.float64) - actual.astype(np.float64))
    passed = bool(np.all(difference <= ATOL + RTOL * np.abs(expected)))
    return passed, float(np.max(difference, initial=0.0))


def _torch_loader(kind: str):
    import torch

    def load(path: str):
        if kind == "pt2":
            return torch.export.load(path).module()
        spec = importlib.util.spec_from_file_location(f"reloaded_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        classes = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, torch.nn.Module)
            and value.__module__ == module.__name__
        ]
        return classes[0]().eval()

    def run(model, inputs: dict, output_names: list[str]) -> list[np.ndarray]:
        with torch.no_grad():
            result = model(*(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs.values()))
        result = result if isinstance(result, (tuple, list)) else (result,)
        return [t.detach().numpy() for t in result]

    return load, run


def _saved_model_loader():
    import tensorflow as tf

    def load(path: str):
        return tf.saved_model.load(path)

    def run(model, inputs: dict, output_names: list[str]) -> list[np.ndarray]:
        signature = model.signatures["serving_default"]
        outputs = signature(**{name: tf.constant(value) for name, value in inputs.items()})
        return [np.asarray(outputs[name]) for name in output_names]

    return load, run


def main(argv: list[str]) -> int:
    manifest_path, results_path = argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    loaders: dict[str, tuple] = {}
    results = {}
    for entry in json.loads(Path(manifest_path).read_text()):
        kind = entry["kind"]
        if kind not in loaders:
            loaders[kind] = _saved_model_loader() if kind == "saved_model" else _torch_loader(kind)
        load, run = loaders[kind]
        started, cpu_started = time.perf_counter(), time.process_time()
        record = {"passed": False, "max_abs": float("nan"), "error": ""}
        try:
            model = load(entry["artifact"])
            worst, passed = 0.0, True
            for inputs, expected in _cases(entry["cases"]):
                names = entry.get("output_keys") or list(expected)
                actual = run(model, inputs, names)
                if len(actual) != len(expected):
                    raise ValueError(f"{len(actual)} outputs, expected {len(expected)}")
                for want, got in zip(expected.values(), actual, strict=True):
                    ok, error = _error(want, got)
                    passed, worst = passed and ok, max(worst, error)
            record.update(passed=passed, max_abs=worst)
            if not passed:
                record["error"] = f"outside rtol {RTOL} / atol {ATOL} (max abs {worst:.3g})"
        except Exception as error:  # one model's failure must not hide the others'
            record["error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[
                :300
            ]
        record["seconds"] = time.perf_counter() - started
        record["cpu_seconds"] = time.process_time() - cpu_started
        results[f"{entry['model']}/{kind}"] = record
    results["__toolkit_imported__"] = "toolkit" in sys.modules
    Path(results_path).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
