"""The real-architecture zoo (`make zoo`): every model in zoo/ through the public API, leg by leg.

    python scripts/run_zoo.py [--models bert,gpt2] [--jobs 2] [--output-dir out/zoo] [--json out/zoo.json]

Legs: export (toolkit.convert), onnxruntime, torch and tensorflow (imported modules, traced
tf.function), then .pt2, .py and SavedModel reloaded in fresh processes without the toolkit
(one process per framework), checked at two batch sizes and two sequence lengths where dynamic;
parameters: the imports exported for training keep every trainable source parameter (count, size).
Models run in a pool of `--jobs` worker processes (each serves a few models, then is replaced, so
TensorFlow's and torch's caches do not pile up over 60 models); the main process imports neither.
A leg listed in EXPECTED_FAILURES with its reason shows as "xfail"; a listed leg that passes is
reported, so the list only shrinks.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import math
import multiprocessing
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
# One fresh reload process per framework: its artifact kinds.
RELOAD_PROCESSES = {"torch": ("pt2", "py"), "tensorflow": ("saved_model",)}
BATCH_SIZES = (1, 3)
# A worker process serves this many models, then a fresh one takes over (bounded memory and caches).
MODELS_PER_WORKER = 4
# A worker holds a model, its ONNX export and both imports at once: about this much memory at most.
WORKER_GIB = 4

# (model, leg) -> why it fails: the importer or upstream bug that blocks it. Entries only shrink.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}


@dataclass
class Leg:
    name: str
    status: str = "skip"  # pass, FAIL, xfail, XPASS, skip
    max_abs: float = float("nan")
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of its process, all threads: comparable on a loaded machine
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
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        report = toolkit.verify_parity(model, candidate, example_inputs=inputs, localize=False)
        leg.max_abs = report.max_abs
        leg.status = "pass" if report else "FAIL"
        if not report:
            leg.error = report.candidates[0].verdict[:300]  # the report's own one-line verdict
    except Exception as error:
        leg.status, leg.error = "FAIL", _failure(error)
    leg.seconds, leg.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
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
    started, cpu_started = time.perf_counter(), time.process_time()
    value = None
    try:
        value = action()
        leg.status = "pass"
    except Exception as error:
        leg.status, leg.error = "FAIL", _failure(error)
    leg.seconds, leg.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
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
    result.notes = toolkit.api.notes_of(onnx_model)
    _settle(result, _parity_leg("onnxruntime", model, onnx_path, inputs))

    leg, torch_module = _timed("import torch", lambda: toolkit.convert(onnx_path, to="torch"))
    if torch_module is None:
        leg.name = "torch"
        _settle(result, leg)
    else:
        parity = _parity_leg("torch", model, torch_module, inputs)
        parity.seconds += leg.seconds
        parity.cpu_seconds += leg.cpu_seconds
        _settle(result, parity)
    leg, tf_module = _timed("import tensorflow", lambda: toolkit.convert(onnx_path, to="tensorflow"))
    if tf_module is None:
        leg.name = "tensorflow"
        _settle(result, leg)
    else:
        parity = _parity_leg("tensorflow", model, tf_module, inputs)
        parity.seconds += leg.seconds
        parity.cpu_seconds += leg.cpu_seconds
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
        entry = {
            "model": name,
            "artifact": str(path),
            "cases": str(cases),
            "save_seconds": leg.seconds,
            "save_cpu_seconds": leg.cpu_seconds,
        }
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


def _threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def _start_worker(threads: int, log_dir: Path) -> None:
    """Pool initializer: `threads` per framework so workers do not oversubscribe, and the frameworks'
    own chatter (torch.export's graph dumps, TF's retracing notices) in a log file, off the table."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    log = open(log_dir / f"worker_{os.getpid()}.log", "w")  # noqa: SIM115  (open for the worker's life)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    from toolkit.quiet import quiet_frameworks

    quiet_frameworks()
    import tensorflow as tf
    import torch

    torch.set_num_threads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _run_in_worker(name: str, output_dir: Path) -> tuple[dict, dict[str, list]]:
    """One model in a pool worker: its result (as a dict, to cross processes) and its reloads.

    A marker file names the model while it runs, so a worker killed on the way (out of memory) is
    traced to the model it was running."""
    marker = output_dir / "running" / name
    marker.parent.mkdir(exist_ok=True)
    marker.touch()
    reloads: dict[str, list] = {kind: [] for kind in RELOADED}
    try:
        result = run_model(name, output_dir, reloads)
    except Exception as error:  # the factory itself failed: the model fails its first leg
        from zoo import framework_of

        result = ModelResult(name, framework_of(name))
        _settle(result, Leg("export", "FAIL", error=_failure(error)))
    gc.collect()
    marker.unlink()
    return asdict(result), reloads


def _result_from(record: dict) -> ModelResult:
    legs = {name: Leg(**leg) for name, leg in record.pop("legs").items()}
    return ModelResult(**record, legs=legs)


def _pool(jobs: int, output_dir: Path):
    # Not max_tasks_per_child: Python 3.11's executor stops replacing workers that retire (it hung
    # after 2 x 4 models here); run_models recycles workers with a fresh pool per round instead.
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),  # no framework state is inherited
        initializer=_start_worker,
        initargs=(_threads_per_worker(jobs), output_dir),
    )


def run_models(names: list[str], output_dir: Path, jobs: int, progress) -> tuple[dict, dict[str, list]]:
    """Every model through `run_model` in a pool of `jobs` fresh worker processes.

    A worker that dies (the kernel's OOM killer) breaks the pool: the models it was running are run
    again alone in a fresh process, failing only if that dies too, and the rest go on in a new pool."""
    from zoo import framework_of

    results: dict[str, ModelResult] = {}
    reloads: dict[str, list] = {kind: [] for kind in RELOADED}
    task = progress.add_task(f"zoo ({jobs} workers)", total=len(names))

    def finish(name: str, record: dict | None, model_reloads: dict, error: str = "") -> None:
        if record is None:
            results[name] = ModelResult(name, framework_of(name))
            _settle(results[name], Leg("export", "FAIL", error=error))
        else:
            results[name] = _result_from(record)
            for kind, entries in model_reloads.items():
                reloads[kind].extend(entries)
        # Results so far, for a run that is stopped before the end.
        partial = [{**asdict(r), "passed": r.passed} for r in results.values()]
        (output_dir / "zoo.partial.json").write_text(json.dumps(partial, indent=2, default=str))
        progress.update(task, description=f"zoo ({jobs} workers): {name} done")
        progress.advance(task)

    def run_pool(batch: list[str], workers: int) -> bool:
        """Run `batch`; False when a worker died (the unfinished models are left for the caller)."""
        intact = True
        with _pool(workers, output_dir) as pool:
            futures = {pool.submit(_run_in_worker, name, output_dir): name for name in batch}
            for future in concurrent.futures.as_completed(futures):
                try:
                    finish(futures[future], *future.result())
                except concurrent.futures.process.BrokenProcessPool:
                    intact = False
        return intact

    pending = list(names)
    while pending:
        # A round: a fresh pool for about MODELS_PER_WORKER models per worker.
        if run_pool(pending[: jobs * MODELS_PER_WORKER], jobs):
            pending = [name for name in pending if name not in results]
            continue
        running = output_dir / "running"
        suspects = [name for name in pending if name not in results and (running / name).exists()]
        for name in suspects:
            (running / name).unlink()
            if not run_pool([name], 1):
                (running / name).unlink(missing_ok=True)
                finish(name, None, {}, "the worker process died running this model alone (out of memory?)")
        pending = [name for name in pending if name not in results]
        if not suspects:  # a worker died outside any model: do not loop forever
            for name in pending:
                finish(name, None, {}, "the worker process died before running this model")
            break
    progress.remove_task(task)
    return results, reloads


def reload_all(reloads: dict[str, list], output_dir: Path, results: dict[str, ModelResult], progress) -> None:
    """One fresh process per framework (all of them at once), none of which imports the toolkit."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    running = {}
    for framework, kinds in RELOAD_PROCESSES.items():
        entries = [{**entry, "kind": kind} for kind in kinds for entry in reloads[kind]]
        if not entries:
            continue
        manifest = output_dir / f"reload_{framework}.json"
        outcome = output_dir / f"reload_{framework}.results.json"
        manifest.write_text(json.dumps(entries))
        outcome.unlink(missing_ok=True)
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "zoo_reload.py"), str(manifest), str(outcome)],
            env=environment,
            cwd=output_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        task = progress.add_task(
            f"reloading {len(entries)} {framework} artifacts without toolkit", total=None
        )
        running[framework] = (process, entries, outcome, task, time.perf_counter())
    for framework, (process, entries, outcome, task, started) in running.items():
        _, stderr = process.communicate()
        progress.remove_task(task)
        records = json.loads(outcome.read_text()) if outcome.exists() else {}
        crashed = process.returncode != 0 or not records
        leaked = records.get("__toolkit_imported__", False)
        for entry in entries:
            record = records.get(f"{entry['model']}/{entry['kind']}", {})
            leg = Leg(
                entry["kind"],
                seconds=entry["save_seconds"] + record.get("seconds", 0.0),
                cpu_seconds=entry["save_cpu_seconds"] + record.get("cpu_seconds", 0.0),
            )
            if crashed:
                leg.status = "FAIL"
                leg.error = f"the reload process failed: {stderr.strip().splitlines()[-1:]}"
            elif leaked:
                leg.status, leg.error = "FAIL", "the reload process imported toolkit"
            else:
                leg.status = "pass" if record.get("passed") else "FAIL"
                leg.max_abs = record.get("max_abs", float("nan"))
                leg.error = record.get("error", "")
            _settle(results[entry["model"]], leg)
        elapsed = time.perf_counter() - started
        progress.console.log(f"{framework}: {len(entries)} artifacts reloaded in {elapsed:.1f} s")


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


def _cpu_seconds() -> float:
    """CPU time of this process and every finished child (workers, reload processes)."""
    import resource

    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def _default_jobs() -> int:
    """One worker per core, fewer where memory is short (each may hold WORKER_GIB)."""
    try:  # MemAvailable counts the page cache the kernel would give back; free memory does not
        meminfo = Path("/proc/meminfo").read_text().split("MemAvailable:")[1]
        available = int(meminfo.split()[0]) / 2**20
    except (OSError, IndexError, ValueError):
        available = WORKER_GIB
    return max(1, min(os.cpu_count() or 1, int(available // WORKER_GIB)))


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
    parser.add_argument(
        "--jobs",
        type=int,
        default=_default_jobs(),
        help="worker processes (default: one per CPU core, as memory allows)",
    )
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
    jobs = max(1, min(arguments.jobs, len(names)))
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        results, reloads = run_models(names, output_dir, jobs, progress)
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
    wall = time.perf_counter() - started
    if arguments.json:
        records = [{**asdict(r), "passed": r.passed} for r in ordered]
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(records, indent=2, default=str))
    console.print(
        f"zoo: {passed}/{len(ordered)} models pass every leg ({wall:.0f} s wall, {_cpu_seconds():.0f} s CPU, "
        f"{jobs} workers, load average {os.getloadavg()[1]:.1f})"
    )
    unexpected = [r for r in ordered if any(leg.status in ("FAIL", "XPASS") for leg in r.legs.values())]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
