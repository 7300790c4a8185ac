"""ONNX backend conformance of both importers, side by side: each path a user can run, one row.

    PYTHONPATH=. .venv/bin/python scripts/conformance.py [--importer tensorflow|torch|all] [--json F] [--only NAME]

tensorflow/traced is the tf.function users, SavedModel and serving get (what the test asserts);
tensorflow/eager walks the handlers op by op (`call_eager`); torch/GraphModule is what
`import_onnx` returns. onnxruntime's row is the natural competitor under the same harness.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _compilers(importer: str):
    if importer in ("tensorflow", "all"):
        from tests.importers.conformance_tensorflow import compile_model as tensorflow_compile

        yield "tensorflow", "traced", tensorflow_compile
        yield "tensorflow", "eager", lambda model: tensorflow_compile(model, traced=False)
    if importer in ("torch", "all"):
        from tests.importers.conformance_torch import compile_model as torch_compile

        yield "torch", "GraphModule", torch_compile
    if importer == "all":
        from tests.importers import conformance

        yield "onnxruntime", "InferenceSession", conformance.onnxruntime_compiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--importer", choices=("tensorflow", "torch", "all"), default="all")
    parser.add_argument("--json", help="also write the per-case results here")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    arguments = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from tests.importers import conformance

    cases = [c for c in conformance.node_cases() + conformance.model_cases() if arguments.only in c.name]
    table = Table(title="ONNX backend conformance (each case with its own rtol/atol)")
    for column in ("importer", "path", "node cases", "model cases", "seconds"):
        table.add_column(column, justify="left" if column in ("importer", "path") else "right")
    results = {}
    for importer, path, compile_model in _compilers(arguments.importer):
        start = time.perf_counter()
        report = conformance.run_suite(cases, compile_model, progress=True)
        seconds = time.perf_counter() - start
        cells = [
            f"{report.passed(kind)}/{report.total(kind)} ({100 * report.rate(kind):.1f}%)"
            if report.total(kind)
            else "-"
            for kind in ("node", "model")
        ]
        table.add_row(importer, path, *cells, f"{seconds:.0f}")
        results[f"{importer}/{path}"] = {
            r.name: {"passed": r.passed, "reason": r.reason} for r in report.results
        }
    Console().print(table)
    if arguments.json:
        from toolkit.io import atomic_output

        with atomic_output(arguments.json) as temporary, open(temporary, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
