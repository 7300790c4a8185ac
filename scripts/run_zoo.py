"""The real-architecture zoo (`make zoo`): every model in zoo/ through the public API, leg by leg.

    python scripts/run_zoo.py [--models bert,gpt2] [--output-dir out/zoo] [--json out/zoo.json]

Legs: export (toolkit.convert), onnxruntime, torch and tensorflow (imported modules, traced
tf.function), then .pt2, .py and SavedModel reloaded in fresh processes without the toolkit
(one process per artifact kind), checked at two batch sizes and two sequence lengths where dynamic;
parameters: the imports exported for training keep every trainable source parameter (count, size).
A leg listed in EXPECTED_FAILURES with its reason shows as "xfail"; a listed leg that passes is
reported, so the list only shrinks.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # configs are built in code: nothing is downloaded

LEGS = ("export", "onnxruntime", "torch", "tensorflow", "pt2", "py", "saved_model", "parameters")
RELOADED = ("pt2", "py", "saved_model")
BATCH_SIZES = (1, 3)

# (model, leg) -> why it fails: the importer or upstream bug that blocks it. Entries only shrink.
_GRU_TIME_AXIS = (
    "torch.onnx dynamo freezes the time axis of a bidirectional GRU into node_Reshape_175 "
    "([10, 2, 32]) although axis 0 is dynamic: pytorch/pytorch#191855"
)


def _torch_loop(node: str, kind: str) -> str:
    if kind == "pt2":
        return f"torch importer: node {node} (Loop) trip count is data-dependent; torch.export cannot specialise u0"
    return (
        f"torch importer: node {node} (Loop) runs its handler eagerly; the .py form has no plain-torch Loop"
    )


_KERAS_LOOPS = {
    "bidirectional_gru": "functional_1/bidirectional_1/forward_gru_1/while_loop",
    "embedding_masking": "functional_8_1/lstm_2_1/while_loop",
}
EXPECTED_FAILURES: dict[tuple[str, str], str] = {
    **{
        (model, kind): _torch_loop(node, kind)
        for model, node in _KERAS_LOOPS.items()
        for kind in ("pt2", "py")
    },
    **{("gru_bidirectional", leg): _GRU_TIME_AXIS for leg in LEGS[1:]},
    ("embedding_bag", "pt2"): "torch importer: node n19_2 (Loop) runs eagerly; torch.export cannot trace it",
    ("embedding_bag", "py"): "torch importer: node n19_2 (Loop) has no plain-torch form for .py",
    **{
        (model, kind): f"torch importer: node node_repeat (Tile) repeats known only at run time (DeBERTa's "
        f"relative positions); {'torch.export fails' if kind == 'pt2' else 'no plain-torch .py form'}"
        for model in ("deberta_v2", "deberta_v2_with_mask")
        for kind in ("pt2", "py")
    },
    (
        "gpt2",
        "py",
    ): "torch importer: nodes node_Split_375, node_Split_382 (Split of Conv1D's qkv with run-time "
    "sizes) run eagerly; no plain-torch .py form (.pt2 passes)",
    (
        "gpt2_with_mask",
        "py",
    ): "torch importer: nodes node_Split_291, node_Split_298 (Split of Conv1D's qkv with "
    "run-time sizes) run eagerly; no plain-torch .py form (.pt2 passes)",
    ("transformer_decoder", "pt2"): "torch importer: node node_Split_395 (Split of the fused in_proj with "
    "run-time sizes) runs eagerly; torch.export fails",
    (
        "transformer_decoder",
        "py",
    ): "torch importer: nodes node_Split_395, node_Split_399, node_Split_413 (Split "
    "with run-time sizes) run eagerly; no plain-torch .py form",
    (
        "multihead_attention_masks",
        "py",
    ): "torch importer: nodes node_Split_72, node_Split_77 (Split with run-time "
    "sizes) run eagerly; no plain-torch .py form (.pt2 passes)",
}


@dataclass
class Leg:
    name: str
    status: str = "skip"  # pass, FAIL, xfail, XPASS, skip
    max_abs: float = float("nan")
    seconds: float = 0.0
    error: str = ""


@dataclass
class ModelResult:
    name: str
    framework: str
    exporter: str = ""
    notes: list[str] = field(default_factory=list)
    legs: dict[str, Leg] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.legs.get(leg, Leg(leg)).status == "pass" for leg in LEGS)


def _settle(result: ModelResult, leg: Leg) -> None:
    expected = EXPECTED_FAILURES.get((result.name, leg.name))
    if expected and leg.status == "FAIL":
        leg.status, leg.error = "xfail", f"{expected} ({leg.error})"
    elif expected and leg.status == "pass":
        leg.status, leg.error = "XPASS", f"listed as expected failure but passes: {expected}"
    result.legs[leg.name] = leg


def _failure(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return (text if type(error).__module__.startswith("toolkit") else f"{type(error).__name__}: {text}")[:300]


def _parity_leg(name: str, model, candidate, inputs) -> Leg:
    import toolkit

    leg = Leg(name)
    started = time.perf_counter()
    try:
        report = toolkit.verify_parity(model, candidate, example_inputs=inputs, localize=False)
        leg.max_abs = report.max_abs
        leg.status = "pass" if report else "FAIL"
        if not report:
            result = report.candidates[0]
            leg.error = (
                result.error
                or "; ".join(
                    f"{o.name}: {o.problem or 'outside tolerance'}"
                    for run in result.runs
                    for o in run.outputs
                    if not o.passed
                )[:300]
            )
    except Exception as error:
        leg.status, leg.error = "FAIL", _failure(error)
    leg.seconds = time.perf_counter() - started
    return leg


def _parameters_leg(model, inputs) -> Leg:
    """The imports people train (`convert --to torch/tensorflow` exports for training) keep every
    trainable source parameter: the same count and total size in torch and in TensorFlow."""
    import toolkit
    from toolkit.training.inventory import compare_imports

    def check():
        onnx_model = toolkit.convert(model, to="onnx", example_inputs=inputs, trainable=True)
        problems = compare_imports(
            model, {t: toolkit.convert(onnx_model, to=t) for t in ("torch", "tensorflow")}
        )
        if problems:
            raise AssertionError("; ".join(problems))

    leg, _ = _timed("parameters", check)
    return leg


def _timed(name: str, action) -> tuple[Leg, object]:
    leg = Leg(name)
    started = time.perf_counter()
    value = None
    try:
        value = action()
        leg.status = "pass"
    except Exception as error:
        leg.status, leg.error = "FAIL", _failure(error)
    leg.seconds = time.perf_counter() - started
    return leg, value


def run_model(name: str, output_dir: Path, reloads: dict[str, list]) -> ModelResult:
    """Export, check in onnxruntime, import both ways, write the artifacts and queue their reloads."""
    import importlib

    import toolkit
    from toolkit.importers import tensorflow as tensorflow_importer
    from toolkit.importers import torch as torch_importer
    from zoo import ZOO, framework_of

    module_name, _, function = ZOO[name].partition(":")
    model, inputs = getattr(importlib.import_module(module_name), function)()
    result = ModelResult(name, framework_of(name))
    onnx_path = output_dir / f"{name}.onnx"
    leg, onnx_model = _timed(
        "export", lambda: toolkit.convert(model, to="onnx", example_inputs=inputs, output=onnx_path)
    )
    _settle(result, leg)
    if onnx_model is None:
        return result
    result.exporter = toolkit.api.exporter_of(onnx_model)
    result.notes = [e.value for e in onnx_model.metadata_props if e.key == "toolkit.note"]
    _settle(result, _parity_leg("onnxruntime", model, onnx_path, inputs))

    leg, torch_module = _timed("import torch", lambda: toolkit.convert(onnx_path, to="torch"))
    if torch_module is None:
        leg.name = "torch"
        _settle(result, leg)
    else:
        parity = _parity_leg("torch", model, torch_module, inputs)
        parity.seconds += leg.seconds
        _settle(result, parity)
    leg, tf_module = _timed("import tensorflow", lambda: toolkit.convert(onnx_path, to="tensorflow"))
    if tf_module is None:
        leg.name = "tensorflow"
        _settle(result, leg)
    else:
        parity = _parity_leg("tensorflow", model, tf_module, inputs)
        parity.seconds += leg.seconds
        _settle(result, parity)
    _settle(result, _parameters_leg(model, inputs))

    leg, cases = _timed(
        "cases", lambda: _write_cases(model, inputs, onnx_model, output_dir / f"{name}.cases.npz")
    )
    if cases is None:
        for kind in RELOADED:
            _settle(result, Leg(kind, "FAIL", error=f"cannot record reference outputs: {leg.error}"))
        return result
    artifacts = {
        "pt2": (output_dir / f"{name}.pt2", torch_module, torch_importer.save),
        "py": (output_dir / f"{name}_py" / f"{name}.py", torch_module, torch_importer.save),
        "saved_model": (output_dir / f"{name}_saved_model", tf_module, tensorflow_importer.save_saved_model),
    }
    for kind, (path, imported, save) in artifacts.items():
        if imported is None:
            _settle(result, Leg(kind, "FAIL", error=f"no imported module to save ({kind})"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        leg, _ = _timed(kind, lambda path=path, save=save, imported=imported: save(imported, path))
        if leg.status != "pass":
            _settle(result, leg)
            continue
        entry = {"model": name, "artifact": str(path), "cases": str(cases), "save_seconds": leg.seconds}
        if kind == "saved_model":
            from toolkit.importers.tensorflow.saved_model import signature_key

            entry["output_keys"] = [signature_key(o.name) for o in onnx_model.graph.output]
        reloads[kind].append(entry)
    return result


def _write_cases(model, inputs, onnx_model, path: Path) -> Path:
    """Inputs at two batch sizes (and a second sequence length where dynamic) with the source's outputs."""
    import numpy as np

    from toolkit.errors import ToolkitError
    from toolkit.parity.inputs import resize_axis, resize_batch
    from toolkit.runners import runnable
    from toolkit.sources import load_source

    source = load_source(model, inputs)
    reference = runnable(source)
    graph_inputs = [
        i for i in onnx_model.graph.input if i.name not in {t.name for t in onnx_model.graph.initializer}
    ]
    names = [i.name for i in graph_inputs]
    by_name = dict(zip(source.input_names or names, source.example_inputs, strict=False))
    examples = [by_name.get(n, x) for n, x in zip(names, source.example_inputs, strict=False)]

    def dynamic(graph_input, axis: int) -> bool:
        dims = graph_input.type.tensor_type.shape.dim
        return axis < len(dims) and not dims[axis].HasField("dim_value")

    variants = []
    if all(dynamic(i, 0) for i in graph_inputs if len(i.type.tensor_type.shape.dim)):
        variants += [[resize_batch(x, size) if x.ndim else x for x in examples] for size in BATCH_SIZES]
    else:
        variants.append(list(examples))
    # A second sequence length: every axis sharing the dim_param of a token input's axis 1.
    symbols = {
        graph_input.type.tensor_type.shape.dim[1].dim_param
        for graph_input, x in zip(graph_inputs, examples, strict=True)
        if x.ndim == 2 and x.dtype.kind in "biu" and dynamic(graph_input, 1)
    }
    if symbols:
        variant = list(variants[0])
        for index, graph_input in enumerate(graph_inputs):
            for axis, dim in enumerate(graph_input.type.tensor_type.shape.dim):
                if axis and dim.dim_param in symbols:
                    variant[index] = resize_axis(
                        variant[index], axis, max(2, variant[index].shape[axis] // 2)
                    )
        variants.append(variant)
    arrays = {}
    for case, feeds in enumerate(variants):
        try:
            outputs = reference.run(feeds)
        except ToolkitError:
            if case == 0:
                raise
            continue  # the source model itself rejects this shape: nothing to compare
        output_names = [o.name for o in onnx_model.graph.output]
        own = reference.output_names or output_names
        if sorted(own) == sorted(output_names):
            outputs = [outputs[list(own).index(n)] for n in output_names]
        for name, value in zip(names, feeds, strict=True):
            arrays[f"case{case}/in/{name}"] = np.ascontiguousarray(value)
        for name, value in zip(output_names, outputs, strict=False):
            arrays[f"case{case}/out/{name}"] = np.asarray(value)
    np.savez(path, **arrays)
    return path


def reload_all(reloads: dict[str, list], output_dir: Path, results: dict[str, ModelResult], progress) -> None:
    """One fresh process per artifact kind, none of which imports the toolkit."""
    for kind in RELOADED:
        entries = reloads[kind]
        if not entries:
            continue
        task = progress.add_task(f"reloading {len(entries)} {kind} without toolkit", total=None)
        manifest = output_dir / f"reload_{kind}.json"
        outcome = output_dir / f"reload_{kind}.results.json"
        manifest.write_text(json.dumps(entries))
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "zoo_reload.py"), kind, str(manifest), str(outcome)],
            env=environment,
            cwd=output_dir,
            capture_output=True,
            text=True,
        )
        progress.remove_task(task)
        records = json.loads(outcome.read_text()) if outcome.exists() else {}
        crashed = completed.returncode != 0 or not records
        leaked = records.get("__toolkit_imported__", False)
        for entry in entries:
            record = records.get(entry["model"], {})
            leg = Leg(kind, seconds=entry["save_seconds"] + record.get("seconds", 0.0))
            if crashed:
                leg.status = "FAIL"
                leg.error = f"the reload process failed: {completed.stderr.strip().splitlines()[-1:]}"
            elif leaked:
                leg.status, leg.error = "FAIL", "the reload process imported toolkit"
            else:
                leg.status = "pass" if record.get("passed") else "FAIL"
                leg.max_abs = record.get("max_abs", float("nan"))
                leg.error = record.get("error", "")
            _settle(results[entry["model"]], leg)
        progress.console.log(f"{kind}: {len(entries)} reloaded in {time.perf_counter() - started:.1f} s")


def render(results: list[ModelResult]):
    from rich.table import Table

    table = Table(title="zoo: real architectures through export, onnxruntime, both importers and reloads")
    table.add_column("model")
    table.add_column("exporter")
    for leg in LEGS:
        table.add_column(leg, justify="right")
    table.add_column("s", justify="right")
    table.add_column("first failure")
    colours = {"pass": "green", "FAIL": "red", "xfail": "yellow", "XPASS": "magenta", "skip": "dim"}
    for result in results:
        cells = []
        for name in LEGS:
            leg = result.legs.get(name, Leg(name))
            shown = (
                f"{leg.max_abs:.0e}" if leg.status == "pass" and not math.isnan(leg.max_abs) else leg.status
            )
            cells.append(f"[{colours[leg.status]}]{shown}[/]")
        failure = next(
            (
                f"{leg.name}: {leg.error}"
                for leg in result.legs.values()
                if leg.status != "pass" and leg.error
            ),
            "",
        )
        exporter = result.exporter.replace("torch.onnx ", "")
        seconds = sum(leg.seconds for leg in result.legs.values())
        table.add_row(result.name, exporter, *cells, f"{seconds:.0f}", failure[:90])
    return table


def main(argv: list[str] | None = None) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from toolkit.quiet import quiet_frameworks
    from toolkit.terminal import console as make_console
    from zoo import ZOO

    quiet_frameworks()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ZOO), help="comma-separated zoo names")
    parser.add_argument("--output-dir", default="out/zoo", type=Path)
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    arguments = parser.parse_args(argv)
    names = [n for n in arguments.models.split(",") if n]
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        print(f"zoo: unknown model(s) {', '.join(unknown)}; see zoo/__init__.py", file=sys.stderr)
        return 2
    output_dir = arguments.output_dir.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    console = make_console()
    started = time.perf_counter()
    results: dict[str, ModelResult] = {}
    reloads: dict[str, list] = {kind: [] for kind in RELOADED}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("zoo", total=len(names))
        for name in names:
            progress.update(task, description=name)
            results[name] = run_model(name, output_dir, reloads)
            gc.collect()
            progress.advance(task)
        reload_all(reloads, output_dir, results, progress)
    ordered = [results[name] for name in names]
    console.print(render(ordered))
    for leg in LEGS:
        counts = [r.legs.get(leg, Leg(leg)).status for r in ordered]
        console.print(
            f"  {leg:<12} {counts.count('pass')}/{len(ordered)} pass"
            + (f", {counts.count('xfail')} expected failures" if counts.count("xfail") else "")
        )
    passed = sum(r.passed for r in ordered)
    if arguments.json:
        records = [{**asdict(r), "passed": r.passed} for r in ordered]
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(records, indent=2, default=str))
    console.print(
        f"zoo: {passed}/{len(ordered)} models pass every leg ({time.perf_counter() - started:.0f} s)"
    )
    unexpected = [r for r in ordered if any(leg.status in ("FAIL", "XPASS") for leg in r.legs.values())]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
