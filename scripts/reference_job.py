"""The main job (`make run`): every reference model to ONNX and back into torch and TensorFlow,
each result checked for parity against the source framework; one table at the end.

    python scripts/reference_job.py --output-dir out [--models torch_cnn,keras_cnn] [--legs onnx,torch,tensorflow]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

LEGS = ("onnx", "torch", "tensorflow")


@dataclass
class LegResult:
    target: str
    passed: bool = False
    max_abs: float = float("nan")
    seconds: float = 0.0
    error: str = ""


@dataclass
class ModelResult:
    name: str
    framework: str
    exporter: str = ""
    opset: int | None = None
    legs: list[LegResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.legs) and all(leg.passed for leg in self.legs)


def run_model(name: str, output_dir: Path, legs: tuple[str, ...]) -> ModelResult:
    """Export one reference model, then check each requested leg against the source model."""
    from models import load_reference
    from toolkit import api
    from toolkit.errors import ToolkitError
    from toolkit.sources import load_source

    reference = load_reference(name)
    result = ModelResult(name, reference.FRAMEWORK)
    source = load_source(f"{reference.__name__}:build")
    onnx_path = output_dir / f"{name}.onnx"
    started = time.perf_counter()
    try:
        onnx_model = api.convert(
            source.model, to="onnx", example_inputs=source.example_inputs, output=onnx_path
        )
    except ToolkitError as error:
        result.legs.append(LegResult("onnx", error=str(error), seconds=time.perf_counter() - started))
        return result
    export_seconds = time.perf_counter() - started
    result.exporter = api.exporter_of(onnx_model)
    result.opset = next((e.version for e in onnx_model.opset_import if e.domain in ("", "ai.onnx")), None)
    for target in legs:
        leg = LegResult(target)
        leg_started = time.perf_counter()
        try:
            if target == "onnx":
                candidate = onnx_path
            elif target == "torch":
                candidate = output_dir / f"{name}.pt2"
                api.convert(onnx_path, to="torch", output=candidate)
            else:
                candidate = output_dir / f"{name}_saved_model"
                api.convert(onnx_path, to="tensorflow", output=candidate)
            report = api.verify_parity(source.model, candidate, example_inputs=source.example_inputs)
            leg.passed = bool(report)
            leg.max_abs = report.max_abs
            leg.error = "" if leg.passed else report.candidates[0].verdict[:200]
        except ToolkitError as error:
            leg.error = str(error)
        except Exception as error:  # one broken leg must not hide the others' results
            leg.error = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:200]
        leg.seconds = time.perf_counter() - leg_started + (export_seconds if target == "onnx" else 0.0)
        result.legs.append(leg)
    return result


def render(results: list[ModelResult], legs: tuple[str, ...]):
    from rich.table import Table

    table = Table(title="Reference models: export, re-import and parity against the source framework")
    for column in (
        "model",
        "source",
        "exporter",
        "opset",
        *[f"{leg} max err" for leg in legs],
        "verdict",
        "seconds",
    ):
        table.add_column(
            column, justify="right" if "err" in column or column in ("opset", "seconds") else "left"
        )
    for result in results:
        cells = []
        for target in legs:
            leg = next((leg for leg in result.legs if leg.target == target), None)
            if leg is None:
                cells.append("-")
            elif leg.error and math.isnan(leg.max_abs):
                cells.append("[red]error[/]")
            else:
                colour = "green" if leg.passed else "red"
                cells.append(f"[{colour}]{leg.max_abs:.2e}[/]")
        failures = [f"{leg.target}: {leg.error}" for leg in result.legs if not leg.passed]
        verdict = "[green]pass[/]" if result.passed else "[red]FAIL[/] " + " | ".join(failures)[:160]
        table.add_row(
            result.name,
            result.framework,
            result.exporter,
            str(result.opset or "-"),
            *cells,
            verdict,
            f"{sum(leg.seconds for leg in result.legs):.1f}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from models import REFERENCE_MODELS
    from toolkit.quiet import quiet_frameworks
    from toolkit.terminal import console as make_console

    quiet_frameworks()

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="out", type=Path)
    parser.add_argument(
        "--models", default=",".join(REFERENCE_MODELS), help="comma-separated reference model names"
    )
    parser.add_argument(
        "--legs", default=",".join(LEGS), help="comma-separated targets: onnx,torch,tensorflow"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    arguments = parser.parse_args(argv)
    names = [n for n in arguments.models.split(",") if n]
    legs = tuple(leg for leg in arguments.legs.split(",") if leg)
    unknown = [n for n in names if n not in REFERENCE_MODELS] + [leg for leg in legs if leg not in LEGS]
    if unknown:
        print(f"reference_job: unknown model or leg: {', '.join(unknown)}", file=sys.stderr)
        return 2
    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    console = make_console()
    results = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("reference models", total=len(names))
        for name in names:
            progress.update(task, description=f"{name}")
            results.append(run_model(name, arguments.output_dir, legs))
            progress.advance(task)
    console.print(render(results, legs))
    if arguments.json:
        arguments.json.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))
    passed = sum(r.passed for r in results)
    console.print(f"{passed}/{len(results)} reference models pass every leg")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
