"""How much a reduced-precision variant differs from its float model, and at which node the error jumps.

Metrics suit reduced precision rather than float parity: cosine, SNR in dB, top-1 agreement for
classifier outputs ([batch, classes]). Localisation runs both graphs in onnxruntime with every
value exposed (parity/localize.py) and matches each float node's output with the value the
quantized graph passes on (after its QuantizeLinear → DequantizeLinear pair, when it has one);
the node whose error grows most over its inputs' is where precision was lost.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import onnx

from toolkit.parity.localize import onnxruntime_values, source_layer, topological_nodes, value_error


@dataclass
class OutputMetrics:
    name: str
    cosine: float
    snr_db: float
    max_abs: float
    top1_agreement: float | None = None  # classifier outputs only


@dataclass
class NodeError:
    node: str
    op_type: str
    source_layer: str
    relative_l2: float  # of the value the quantized graph passes on
    jump: float  # relative_l2 minus the largest of its inputs'


@dataclass
class VariantReport:
    variant: str
    outputs: list[OutputMetrics]
    float_bytes: int
    variant_bytes: int
    latency_ratio: float | None = None  # variant p50 / float p50, onnxruntime in-process (toolkit bench)
    latency_ms: tuple[float, float] | None = None
    worst_nodes: list[NodeError] = field(default_factory=list)
    kept_fp32: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)  # the --keep-fp32 auto steps, in words

    @property
    def jump(self) -> NodeError | None:
        return self.worst_nodes[0] if self.worst_nodes else None

    @property
    def top1_agreement(self) -> float | None:
        values = [o.top1_agreement for o in self.outputs if o.top1_agreement is not None]
        return min(values) if values else None

    @property
    def cosine(self) -> float:
        return min(o.cosine for o in self.outputs)

    def to_dict(self) -> dict:
        return _finite(asdict(self))


def output_metrics(names, reference: list[np.ndarray], candidate: list[np.ndarray]) -> list[OutputMetrics]:
    metrics = []
    for name, want, got in zip(names, reference, candidate, strict=True):
        want64, got64 = np.asarray(want, np.float64), np.asarray(got, np.float64).reshape(np.shape(want))
        noise = float(np.sum((want64 - got64) ** 2))
        signal = float(np.sum(want64**2))
        snr = float("inf") if noise == 0 else 10 * math.log10(signal / noise) if signal else float("-inf")
        norm = float(np.linalg.norm(want64) * np.linalg.norm(got64))
        cosine = float(np.dot(want64.ravel(), got64.ravel()) / norm) if norm else float(noise == 0)
        top1 = None
        if want64.ndim == 2 and want64.shape[1] > 1:
            top1 = float(np.mean(np.argmax(want64, axis=1) == np.argmax(got64, axis=1)))
        metrics.append(OutputMetrics(name, cosine, snr, float(np.max(np.abs(want64 - got64))), top1))
    return metrics


def node_errors(
    float_model: onnx.ModelProto, variant: onnx.ModelProto, feeds: dict[str, np.ndarray]
) -> list[NodeError]:
    """Every float node's error in the variant, worst jump first."""
    float_values = onnxruntime_values(float_model, feeds)
    variant_values = onnxruntime_values(variant, feeds)
    passed_on = _passed_on(variant)
    errors: dict[str, float] = {}
    ranked = []
    for node in topological_nodes(float_model.graph):
        worst = None
        for name in node.output:
            candidate = variant_values.get(passed_on.get(name, name))
            if name not in float_values or candidate is None:
                continue
            reference = np.asarray(float_values[name])
            candidate = np.asarray(candidate)
            if reference.dtype.kind != "f" or candidate.shape != reference.shape:
                continue
            error = channel_error(reference, candidate.astype(reference.dtype))
            if not math.isnan(error):
                errors[name] = error
                worst = error if worst is None else max(worst, error)
        if worst is None:
            continue
        before = max((errors.get(name, 0.0) for name in node.input), default=0.0)
        ranked.append(NodeError(node.name, node.op_type, source_layer(node), worst, worst - before))
    return sorted(ranked, key=lambda e: -e.jump)


def channel_error(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean over channels of each channel's relative L2 error.

    A whole-tensor relative error hides what int8 does to a tensor with a few huge channels: those
    keep their precision and dominate the norm while every small channel rounds to zero.
    """
    if reference.ndim < 2:
        return value_error("value", reference, candidate, None, None).relative_l2
    axis = 1 if reference.ndim >= 4 else reference.ndim - 1  # NCHW channels, else features last
    reference = np.moveaxis(reference.astype(np.float64), axis, 0).reshape(reference.shape[axis], -1)
    candidate = np.moveaxis(candidate.astype(np.float64), axis, 0).reshape(reference.shape[0], -1)
    # Masks carry -inf (attention); a value that is not finite on both sides says nothing about precision.
    finite = np.isfinite(reference) & np.isfinite(candidate)
    reference, candidate = np.where(finite, reference, 0.0), np.where(finite, candidate, 0.0)
    norms = np.linalg.norm(reference, axis=1)
    differences = np.linalg.norm(reference - candidate, axis=1)
    scale = np.where(norms > 0, norms, 1.0)
    return float(np.mean(np.minimum(differences / scale, 10.0)))


def _passed_on(variant: onnx.ModelProto) -> dict[str, str]:
    """Value name -> the name of its QuantizeLinear → DequantizeLinear result, where the variant has one."""
    quantized = {n.input[0]: n.output[0] for n in variant.graph.node if n.op_type == "QuantizeLinear"}
    dequantized = {n.input[0]: n.output[0] for n in variant.graph.node if n.op_type == "DequantizeLinear"}
    return {name: dequantized[q] for name, q in quantized.items() if q in dequantized}


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def render(reports: list[VariantReport], label: str):
    """The reports as rich renderables: one table of metrics, then the node where each variant's error jumps."""
    from rich.table import Table

    table = Table(title=f"Reduced precision against {label} (float32)")
    for column in ("variant", "output", "cosine", "SNR dB", "top-1 agree", "max abs", "size", "latency ×"):
        table.add_column(column, justify="left" if column in ("variant", "output") else "right")
    lines = []
    for report in reports:
        for output in report.outputs:
            table.add_row(
                report.variant,
                output.name,
                f"{output.cosine:.6f}",
                f"{output.snr_db:.1f}",
                "-" if output.top1_agreement is None else f"{output.top1_agreement:.1%}",
                f"{output.max_abs:.3g}",
                f"{report.variant_bytes / max(report.float_bytes, 1):.2f}×",
                "-" if report.latency_ratio is None else f"{report.latency_ratio:.2f}",
            )
        jump = report.jump
        if jump is not None:
            layer = f" [{jump.source_layer}]" if jump.source_layer else ""
            lines.append(
                f'{report.variant}: error jumps at node "{jump.node}" ({jump.op_type}){layer}: '
                f"relative error {jump.relative_l2:.3g} (+{jump.jump:.3g} over its inputs)"
            )
        if report.kept_fp32:
            lines.append(f"{report.variant}: kept in float32: {', '.join(report.kept_fp32)}")
        lines.extend(f"{report.variant}: {step}" for step in report.search)
    return [table, *lines]
