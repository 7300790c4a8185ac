"""verify-parity --train: gradients, one SGD and one Adam step, running statistics and a short
fine-tune, compared between a source model and its import, as a table, JSON and HTML.

Every phase starts from the same weights (the source's, restored after each phase), on one
seeded batch and a seeded regression target for the first output (loss: mean squared error).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import onnx

from toolkit.errors import InputError, UsageError
from toolkit.parity import train

GRADIENT_RTOL, GRADIENT_ATOL = 1e-3, 1e-5
STEP_RTOL, STEP_ATOL = 1e-4, 1e-5
CURVE_RTOL = 1e-3
FINE_TUNE_STEPS = 20
# Ops whose output carries no gradient back to their input.
NON_DIFFERENTIABLE = frozenset(
    {
        "ArgMax",
        "ArgMin",
        "Round",
        "Floor",
        "Ceil",
        "Sign",
        "NonZero",
        "Equal",
        "Less",
        "Greater",
        "LessOrEqual",
        "GreaterOrEqual",
        "IsNaN",
        "IsInf",
        "TopK",
        "QuantizeLinear",
        "Unique",
    }
)


@dataclass
class ParameterComparison:
    name: str
    phase: str  # "gradient", "sgd", "adam", "running statistics"
    max_abs: float
    max_rel: float
    cosine: float
    passed: bool


@dataclass
class TrainingReport:
    reference_label: str
    candidate_label: str
    comparisons: list[ParameterComparison] = field(default_factory=list)
    reference_losses: list[float] = field(default_factory=list)
    candidate_losses: list[float] = field(default_factory=list)
    non_differentiable: list[str] = field(default_factory=list)

    @property
    def largest_loss_gap(self) -> float:
        pairs = zip(self.reference_losses, self.candidate_losses, strict=True)
        return max((abs(a - b) / max(abs(a), 1e-12) for a, b in pairs), default=0.0)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons) and self.largest_loss_gap <= CURVE_RTOL

    def __bool__(self) -> bool:
        return self.passed

    @property
    def verdict(self) -> str:
        failed = sorted({c.phase for c in self.comparisons if not c.passed})
        if self.largest_loss_gap > CURVE_RTOL:
            failed.append(f"fine-tune (gap {self.largest_loss_gap:.2e})")
        return "PASS: trains like the reference" if not failed else f"FAIL: {', '.join(failed)}"

    def to_dict(self) -> dict:
        return {
            "reference": self.reference_label,
            "candidate": self.candidate_label,
            "passed": self.passed,
            "parameters": [asdict(c) for c in self.comparisons],
            "fine_tune": {
                "reference_losses": self.reference_losses,
                "candidate_losses": self.candidate_losses,
                "largest_relative_gap": self.largest_loss_gap,
            },
            "non_differentiable_nodes": self.non_differentiable,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def renderables(self) -> list:
        from rich.table import Table

        table = Table(title=f"training parity: {self.candidate_label} against {self.reference_label}")
        for column in ("parameter", "phase", "max abs", "max rel", "cosine", ""):
            table.add_column(column, justify="left" if column in ("parameter", "phase") else "right")
        for c in self.comparisons:
            table.add_row(
                c.name,
                c.phase,
                f"{c.max_abs:.2e}",
                f"{c.max_rel:.2e}",
                f"{c.cosine:.6f}",
                "ok" if c.passed else "FAIL",
            )
        lines = [
            table,
            f"fine-tune, {len(self.reference_losses)} steps: largest relative loss gap {self.largest_loss_gap:.2e}",
        ]
        if self.non_differentiable:
            lines.append(
                f"non-differentiable nodes on the parameter path: {', '.join(self.non_differentiable)}"
            )
        lines.append(self.verdict)
        return lines

    def html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td>{c.phase}</td><td>{c.max_abs:.2e}</td><td>{c.max_rel:.2e}</td>"
            f"<td>{c.cosine:.6f}</td><td>{'ok' if c.passed else 'FAIL'}</td></tr>"
            for c in self.comparisons
        )
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Training parity</title></head><body>"
            f"<h1>Training parity: {html.escape(self.candidate_label)} against {html.escape(self.reference_label)}</h1>"
            f"<p><b>{html.escape(self.verdict)}</b></p><p>largest relative loss gap {self.largest_loss_gap:.2e}</p>"
            f"<img alt='loss curves' src='data:image/png;base64,{self._plot()}'>"
            "<table border='1'><tr><th>parameter</th><th>phase</th><th>max abs</th><th>max rel</th><th>cosine</th>"
            f"<th></th></tr>{rows}</table></body></html>"
        )

    def _plot(self) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6, 3.5))
        axes.plot(self.reference_losses, label=self.reference_label)
        axes.plot(self.candidate_losses, "--", label=self.candidate_label)
        axes.set_xlabel("step")
        axes.set_ylabel("loss")
        axes.legend()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(figure)
        return base64.b64encode(buffer.getvalue()).decode("ascii")


def verify_training(
    reference,
    imported,
    onnx_model: onnx.ModelProto,
    inputs: Sequence[np.ndarray],
    labels=("reference", "candidate"),
    seed: int = 0,
) -> TrainingReport:
    """Compare `reference` (a torch module or Keras model) with `imported` (its toolkit import)."""
    source = train.torch_source(reference) if _is_torch(reference) else train.keras_source(reference)
    candidate = train.imported(imported)
    if not source.parameters:
        raise InputError(f"{labels[0]}: the model has no float parameters to train: nothing to compare")
    missing = sorted(set(source.parameters) - set(candidate.parameters))
    if missing:
        raise UsageError(
            f"{labels[1]}: parameters {', '.join(missing[:6])} of the reference are not parameters of the import; "
            "export with trainable=True (convert --trainable)"
        )
    report = TrainingReport(*labels, non_differentiable=non_differentiable_nodes(onnx_model))
    rng = np.random.default_rng(seed)
    inputs = [np.asarray(x) for x in inputs]
    target = rng.standard_normal(np.shape(train.evaluate(source, inputs))).astype(np.float32)
    start = _snapshot(source)
    _restore(candidate, start)
    _, reference_gradients = train.step(source, inputs, target, "sgd", 1e-2)
    _, candidate_gradients = train.step(candidate, inputs, target, "sgd", 1e-2)
    for name, gradient in reference_gradients.items():
        report.comparisons.append(
            _compare(name, "gradient", gradient, candidate_gradients.get(name), GRADIENT_RTOL, GRADIENT_ATOL)
        )
    _compare_values(report, "sgd", source.values(), candidate.values())
    _compare_values(report, "running statistics", source.values("state"), candidate.values("state"))
    for side in (source, candidate):
        _restore(side, start)
    train.step(source, inputs, target, "adam", 1e-3)
    train.step(candidate, inputs, target, "adam", 1e-3)
    _compare_values(report, "adam", source.values(), candidate.values())
    for side in (source, candidate):
        _restore(side, start)
        side.__dict__.pop("_optimizer", None)
    for _ in range(FINE_TUNE_STEPS):
        report.reference_losses.append(train.step(source, inputs, target, "sgd", 1e-2)[0])
        report.candidate_losses.append(train.step(candidate, inputs, target, "sgd", 1e-2)[0])
    for side in (source, candidate):
        _restore(side, start)
    return report


def non_differentiable_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes on a path from a float initializer whose op passes no gradient (ArgMax, Round, integer Cast)."""
    reached = {
        i.name
        for i in model.graph.initializer
        if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)
    }
    found = []
    for node in model.graph.node:
        if not any(name in reached for name in node.input) or node.op_type in ("Shape", "Size"):
            continue  # a shape depends on no parameter's value
        to_integer = node.op_type == "Cast" and any(
            a.name == "to"
            and a.i
            not in (
                onnx.TensorProto.FLOAT,
                onnx.TensorProto.DOUBLE,
                onnx.TensorProto.FLOAT16,
                onnx.TensorProto.BFLOAT16,
            )
            for a in node.attribute
        )
        if node.op_type in NON_DIFFERENTIABLE or to_integer:
            found.append(f"{node.name or node.output[0]} ({node.op_type})")
            continue  # nothing past it depends on the parameters through a gradient
        reached.update(node.output)
    return found


def _compare(name, phase, expected, actual, rtol, atol) -> ParameterComparison:
    if expected is None or actual is None:
        both = expected is None and actual is None
        return ParameterComparison(
            name, phase, 0.0 if both else float("inf"), 0.0, 1.0 if both else 0.0, both
        )
    expected = np.asarray(expected, np.float64)
    actual = np.asarray(actual, np.float64)
    if expected.shape != actual.shape:
        return ParameterComparison(name, phase, float("inf"), float("inf"), 0.0, False)
    difference = np.abs(actual - expected)
    max_rel = float(np.max(difference / np.maximum(np.abs(expected), 1e-12))) if difference.size else 0.0
    norms = np.linalg.norm(expected) * np.linalg.norm(actual)
    cosine = float(np.dot(expected.ravel(), actual.ravel()) / norms) if norms else 1.0
    passed = bool(np.all(difference <= atol + rtol * np.abs(expected)))
    return ParameterComparison(name, phase, float(difference.max(initial=0.0)), max_rel, cosine, passed)


def _compare_values(report, phase, expected: dict, actual: dict) -> None:
    for name, value in expected.items():
        report.comparisons.append(_compare(name, phase, value, actual.get(name), STEP_RTOL, STEP_ATOL))


def _snapshot(trainee: train.Trainee) -> dict[str, np.ndarray]:
    return {**trainee.values(), **trainee.values("state")}


def _restore(trainee: train.Trainee, values: dict[str, np.ndarray]) -> None:
    from toolkit.training.mapping import MappedParameter

    for name, value in {**trainee.parameters, **trainee.state}.items():
        if name in values:
            entry = MappedParameter(name, name, value, None, True)
            entry.assign(trainee.from_source(name, values[name]))


def _is_torch(model) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(model, torch.nn.Module)


def verify_training_sources(reference, candidate, example_inputs=None) -> TrainingReport:
    """verify-parity --train: `reference` a torch/Keras source, `candidate` an ONNX model (path or
    ModelProto, imported into the other framework) or a module the toolkit imported."""
    from toolkit.sources import load_source

    source = load_source(reference, example_inputs)
    if source.kind not in ("torch", "keras"):
        raise UsageError(
            f"{source.label}: --train needs a torch or Keras reference (its parameters are the ones compared), "
            f"not a {source.kind} model"
        )
    if source.example_inputs is None:
        raise UsageError(
            f"{source.label}: --train needs example inputs (an example_inputs() beside the factory)"
        )
    label = (
        str(candidate)
        if isinstance(candidate, (str, bytes)) or hasattr(candidate, "__fspath__")
        else type(candidate).__name__
    )
    onnx_model, imported = _candidate(candidate, "tensorflow" if source.kind == "torch" else "torch")
    return verify_training(
        source.model, imported, onnx_model, source.example_inputs, labels=(source.label, label)
    )


def _candidate(candidate, target: str):
    import toolkit
    from toolkit.io import load_onnx

    if isinstance(candidate, onnx.ModelProto):
        return candidate, toolkit.convert(candidate, to=target)
    if isinstance(candidate, str) or hasattr(candidate, "__fspath__"):
        if not str(candidate).endswith(".onnx"):
            raise UsageError(f"{candidate}: --train compares an .onnx candidate (exported with --trainable)")
        model = load_onnx(candidate)
        return model, toolkit.convert(model, to=target)
    prepared = getattr(getattr(candidate, "_state", None), "prepared", None)
    if prepared is not None:  # a TF import keeps a light model: its weights live in its tf.Variables
        from toolkit.importers.tensorflow.builder import onnx_model

        return onnx_model(candidate), candidate
    raise UsageError(
        f"a {type(candidate).__name__} candidate: --train takes an ONNX model or a toolkit import"
    )
