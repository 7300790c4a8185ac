"""The ONNX backend conformance cases shipped in the onnx package, run against any importer.

A suite no one here wrote: onnx's node cases (one operator each) and its model directories
(simple, pytorch-operator, pytorch-converted, light). Each case is compared with its own
rtol/atol, the way onnx's `BackendTest` runner compares.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

# onnx's BackendTest defaults for the model directories that carry no tolerances of their own.
MODEL_RTOL = 1e-3
MODEL_ATOL = 1e-7
# Model directories reached only by download ('real') are not part of the offline suite; 'light'
# holds small-weight versions of those models as single files, with expected outputs beside them.
MODEL_KINDS = ("simple", "pytorch-operator", "pytorch-converted")
LIGHT_RTOL = {"densenet121": 2e-3}

Runner = Callable[[list[Any]], Sequence[Any]]
Compiler = Callable[[onnx.ModelProto], Runner]


@dataclass
class Case:
    name: str
    kind: str  # "node" or "model"
    model: onnx.ModelProto | None
    model_path: str | None
    data_sets: list[tuple[list[Any], list[Any]]] | None
    rtol: float
    atol: float

    def load(self) -> tuple[onnx.ModelProto, list[tuple[list[Any], list[Any]]]]:
        if self.model is not None and self.data_sets is not None:
            return self.model, self.data_sets
        model = onnx.load(self.model_path)
        if os.path.basename(self.model_path).startswith("light_"):
            return model, _light_data_sets(self.model_path, model)
        return model, _read_data_sets(os.path.dirname(self.model_path), model)


@dataclass
class CaseResult:
    name: str
    kind: str
    passed: bool
    reason: str = ""


@dataclass
class SuiteReport:
    results: list[CaseResult] = field(default_factory=list)

    def passed(self, kind: str | None = None) -> int:
        return sum(r.passed for r in self.results if kind in (None, r.kind))

    def total(self, kind: str | None = None) -> int:
        return sum(1 for r in self.results if kind in (None, r.kind))

    def rate(self, kind: str | None = None) -> float:
        total = self.total(kind)
        return self.passed(kind) / total if total else 0.0

    def failures(self) -> dict[str, str]:
        return {r.name: r.reason for r in self.results if not r.passed}

    def summary(self, label: str) -> str:
        parts = [
            f"{kind} cases {self.passed(kind)}/{self.total(kind)} ({100 * self.rate(kind):.1f}%)"
            for kind in ("node", "model")
            if self.total(kind)
        ]
        return f"{label}: " + ", ".join(parts)


def node_cases() -> list[Case]:
    """onnx's node cases (one operator, several data sets each), with their own tolerances."""
    import warnings

    from onnx.backend.test.case import node

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        collected = node.collect_testcases()
    return [
        Case(
            case.name,
            "node",
            case.model,
            None,
            [_normalize(data) for data in case.data_sets],
            case.rtol,
            case.atol,
        )
        for case in collected
    ]


def _normalize(data_set: tuple[list[Any], list[Any]]) -> tuple[list[Any], list[Any]]:
    """onnx's collector stores some values (float8, int4, ...) as TensorProto; its runner converts them."""
    feeds, expected = data_set
    return [_as_array(v) for v in feeds], [_as_array(v) for v in expected]


def _as_array(value: Any) -> Any:
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else value


def model_cases() -> list[Case]:
    """The model directories under onnx/backend/test/data, read lazily (some are large)."""
    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    cases = []
    for kind in MODEL_KINDS:
        for directory in sorted(glob.glob(os.path.join(root, kind, "*"))):
            path = os.path.join(directory, "model.onnx")
            if os.path.exists(path):
                cases.append(
                    Case(os.path.basename(directory), "model", None, path, None, MODEL_RTOL, MODEL_ATOL)
                )
    for path in sorted(glob.glob(os.path.join(root, "light", "light_*.onnx"))):
        name = os.path.splitext(os.path.basename(path))[0]
        rtol = LIGHT_RTOL.get(name.removeprefix("light_"), MODEL_RTOL)
        cases.append(Case(name, "model", None, path, None, rtol, MODEL_ATOL))
    return cases


def _light_data_sets(path: str, model: onnx.ModelProto) -> list[tuple[list[Any], list[Any]]]:
    """onnx's runner feeds light models arange(n)/n in the input's shape (unknown dims as 1)."""
    initializers = {i.name for i in model.graph.initializer}
    feeds = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in value.type.tensor_type.shape.dim)
        count = int(np.prod(shape))
        feeds.append((np.arange(count).reshape(shape) / count).astype(np.float32))
    prefix = os.path.splitext(path)[0]
    expected = []
    for index, output in enumerate(model.graph.output):
        expected.append(_read_value(f"{prefix}_output_{index}.pb", output.type))
    return [(feeds, expected)]


def _read_data_sets(directory: str, model: onnx.ModelProto) -> list[tuple[list[Any], list[Any]]]:
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    data_sets = []
    for data_directory in sorted(glob.glob(os.path.join(directory, "test_data_set_*"))):
        feeds = [
            _read_value(os.path.join(data_directory, f"input_{i}.pb"), inputs[i].type)
            for i in range(len(inputs))
        ]
        expected = [
            _read_value(os.path.join(data_directory, f"output_{i}.pb"), output.type)
            for i, output in enumerate(model.graph.output)
        ]
        data_sets.append((feeds, expected))
    return data_sets


def _read_value(path: str, value_type: onnx.TypeProto) -> Any:
    with open(path, "rb") as handle:
        payload = handle.read()
    if value_type.HasField("sequence_type"):
        message = onnx.SequenceProto()
        message.ParseFromString(payload)
        return numpy_helper.to_list(message)
    if value_type.HasField("optional_type"):
        message = onnx.OptionalProto()
        message.ParseFromString(payload)
        return numpy_helper.to_optional(message)
    if value_type.HasField("map_type"):
        message = onnx.MapProto()
        message.ParseFromString(payload)
        return numpy_helper.to_dict(message)
    tensor = onnx.TensorProto()
    tensor.ParseFromString(payload)
    return numpy_helper.to_array(tensor)


def run_case(case: Case, compile_model: Compiler) -> CaseResult:
    """Compile once, run every data set, compare each output with the case's tolerances."""
    try:
        model, data_sets = case.load()
        runner = compile_model(model)
        for index, (feeds, expected) in enumerate(data_sets):
            outputs = list(runner(list(feeds)))
            if len(outputs) != len(expected):
                return CaseResult(
                    case.name, case.kind, False, f"{len(outputs)} outputs, expected {len(expected)}"
                )
            for position, (want, got) in enumerate(zip(expected, outputs, strict=True)):
                problem = compare_values(want, got, case.rtol, case.atol)
                if problem:
                    return CaseResult(
                        case.name, case.kind, False, f"data set {index}, output {position}: {problem}"
                    )
    except Exception as error:  # a case that raises is a failed case, with the first line as the reason
        message = str(error).strip().splitlines()
        return CaseResult(
            case.name, case.kind, False, f"{type(error).__name__}: {message[0] if message else ''}"[:300]
        )
    return CaseResult(case.name, case.kind, True)


def compare_values(expected: Any, actual: Any, rtol: float, atol: float) -> str:
    """Empty when `actual` matches `expected` as onnx's runner would judge it, else why not."""
    if isinstance(expected, list):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            return f"expected a sequence of {len(expected)} tensors"
        for want, got in zip(expected, actual, strict=True):
            problem = compare_values(want, got, rtol, atol)
            if problem:
                return problem
        return ""
    if expected is None:
        return "" if actual is None else "expected an empty optional"
    want = np.asarray(expected)
    got = np.asarray(_to_numpy(actual))
    if want.dtype == object or want.dtype.kind in "SU":
        equal = want.shape == got.shape and all(
            _as_text(a) == _as_text(b) for a, b in zip(want.ravel(), got.ravel(), strict=True)
        )
        return "" if equal else "string tensors differ"
    if want.shape != got.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if want.dtype != got.dtype:
        return f"dtype {got.dtype}, expected {want.dtype}"
    if want.dtype.kind in "biu" or want.dtype == np.bool_:
        return "" if np.array_equal(want, got) else "integer values differ"
    if want.dtype.name == "bfloat16":
        rtol = max(rtol, 2**-6)  # two bfloat16 ULPs, as onnx's runner allows
    try:
        with np.errstate(invalid="ignore"):  # float8/int4 payloads with NaN patterns cast loudly
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol)
    except AssertionError as error:
        lines = [
            line.strip() for line in str(error).splitlines() if "Max absolute" in line or "Mismatched" in line
        ]
        return "values differ: " + "; ".join(lines)
    return ""


def _as_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach"):  # torch.Tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy"):  # tf.Tensor
        return value.numpy()
    return value


def run_suite(
    cases: Iterable[Case],
    compile_model: Compiler,
    expected_failures: Mapping[str, str] | None = None,
    progress: bool = False,
) -> SuiteReport:
    """Run every case; `expected_failures` only documents, the caller decides what to assert."""
    cases = list(cases)
    report = SuiteReport()
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("conformance", total=len(cases))
            for case in cases:
                report.results.append(run_case(case, compile_model))
                bar.advance(task)
    else:
        report.results.extend(run_case(case, compile_model) for case in cases)
    return report


def check_expected_failures(report: SuiteReport, expected_failures: Mapping[str, str]) -> list[str]:
    """Problems for a test to assert on: unexpected failures, and listed cases that now pass."""
    problems = []
    for result in report.results:
        listed = result.name in expected_failures
        if not result.passed and not listed:
            problems.append(f"{result.name} fails unexpectedly: {result.reason}")
        if result.passed and listed:
            problems.append(f"{result.name} passes now: remove it from the expected-failure list")
    return problems


def onnxruntime_compiler(model: onnx.ModelProto) -> Runner:
    """The natural competitor as a compiler, for baseline pass rates."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda feeds: session.run(None, dict(zip(names, feeds, strict=True)))
