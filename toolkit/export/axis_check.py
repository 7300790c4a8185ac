"""Does an exported graph take other sizes along the axes it declares dynamic? A run at a second size tells.

torch.onnx's dynamo exporter can declare an axis dynamic and still bake the example's size into
the graph: a bidirectional GRU's time axis ends in a Reshape to [10, 2, 32]. A static scan cannot
tell such a constant from a hidden size that happens to be equal (the GRU's 2 directions against a
batch of 2); running onnxruntime and the source at a second size along each axis can.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from toolkit.io import first_line, has_external_data, weight_bytes

# Models with more weights are not run a second time: another session and forward pass would cost
# as much as the export (bench_scale's 1.2B-parameter model), and their weights go to external data.
CHECKED_WEIGHT_LIMIT = 256 * 2**20


@dataclass
class FixedAxis:
    """A dynamic axis name along which the graph fails or parts from the source at `size`."""

    label: str
    axes: list[tuple[str, int]]  # (input name, axis) sharing the name
    example_size: int
    size: int
    problem: str

    def describe(self) -> str:
        where = ", ".join(f"{name!r} axis {axis}" for name, axis in self.axes)
        return (
            f"dynamo specialised axis {self.label} ({where}) to its example size {self.example_size}: "
            f"at size {self.size} {self.problem}"
        )


def second_size(size: int) -> int:
    """A size torch.export did not see: one less where that stays above 1 (0 and 1 are special), else one more."""
    return size - 1 if size > 2 else size + 1


def fixed_axes(
    module: Any,
    model: onnx.ModelProto,
    names: Sequence[str],
    tensors: Sequence[Any],
    labels: Mapping[str, Mapping[int, str]],
    keyword_inputs: bool = False,
) -> list[FixedAxis]:
    """The dynamic axes (by name: axes sharing one move together) along which `model` fails in
    onnxruntime or parts from `module`, checked at a second size of all of them at once, then of
    each where that fails. Empty when every axis holds, or when the check cannot judge: the source
    itself rejects the size, or the model is over CHECKED_WEIGHT_LIMIT (skipped, not run twice)."""
    groups: dict[str, list[tuple[str, int]]] = {}
    declared = _declared_dynamic(model)
    for name in names:
        for axis, label in labels.get(name, {}).items():
            if (name, axis) in declared:
                groups.setdefault(label, []).append((name, axis))
    if not groups or has_external_data(model) or weight_bytes(model) > CHECKED_WEIGHT_LIMIT:
        return []
    from toolkit.runtime import OnnxRuntimeModel

    session = OnnxRuntimeModel(model, provider="cpu")
    examples = {name: tensor.numpy() for name, tensor in zip(names, tensors, strict=True)}
    sizes = {label: int(examples[axes[0][0]].shape[axes[0][1]]) for label, axes in groups.items()}

    agreement: dict[str, bool] = {}

    def agrees_at_example() -> bool:
        if not agreement:
            always = lambda: True  # noqa: E731  (at the example, values always count)
            agreement["example"] = _problem(module, session, names, examples, keyword_inputs, always) is None
        return agreement["example"]

    def problem_at(varied: Sequence[str]) -> str | None:
        feeds = dict(examples)
        for label in varied:
            for name, axis in groups[label]:
                feeds[name] = _resize(feeds[name], axis, second_size(sizes[label]))
        return _problem(module, session, names, feeds, keyword_inputs, agrees_at_example)

    if problem_at(list(groups)) is None:
        return []
    fixed = []
    for label, axes in groups.items():
        problem = problem_at([label]) if len(groups) > 1 else problem_at(list(groups))
        if problem is not None:
            fixed.append(FixedAxis(label, axes, sizes[label], second_size(sizes[label]), problem))
    return fixed


def _declared_dynamic(model: onnx.ModelProto) -> set[tuple[str, int]]:
    """(input, axis) the graph declares dynamic: an axis it already fixes is noted elsewhere."""
    return {
        (graph_input.name, axis)
        for graph_input in model.graph.input
        for axis, dim in enumerate(graph_input.type.tensor_type.shape.dim)
        if not dim.HasField("dim_value")
    }


def _resize(array: np.ndarray, axis: int, size: int) -> np.ndarray:
    from toolkit.parity.inputs import resize_axis

    return resize_axis(array, axis, size)


def _problem(module, session, names, feeds, keyword_inputs, agrees_at_example) -> str | None:
    """What goes wrong at these feeds: onnxruntime fails, or an output's shape or values differ from
    the source's. Values count only where the example's own sizes agree (`agrees_at_example()`):
    a model that parts from its source everywhere says nothing about its axes."""
    from toolkit.parity.compare import compare_output

    try:
        expected = _run_source(module, names, feeds, keyword_inputs)
    except Exception:
        return None  # the source rejects this size too: nothing to hold the graph to
    graph_feeds = {name: np.ascontiguousarray(feeds[name]) for name in session.input_names}
    try:
        actual = [np.asarray(value) for value in session.session.run(None, graph_feeds)]
    except Exception as error:
        return f"onnxruntime fails{_ort_failure(first_line(error))}"
    if len(actual) != len(expected):
        return None  # outputs matched by position only when both sides count them alike
    outputs = [output.name for output in session.outputs]
    comparisons = [
        compare_output(name, reference, candidate)
        for name, reference, candidate in zip(outputs, expected, actual, strict=True)
    ]
    for comparison in comparisons:
        if comparison.kind == "shape":
            shapes = f"{comparison.candidate_shape}, the source's {comparison.reference_shape}"
            return f"output {comparison.name!r} has shape {shapes}"
    failed = [comparison for comparison in comparisons if not comparison.passed]
    if failed and agrees_at_example():
        return f"output {failed[0].name!r} differs from the source's (max abs {failed[0].max_abs:.3g})"
    return None


def _ort_failure(message: str) -> str:
    """onnxruntime's run error, short: " in Reshape node 'node_Reshape_175': <what it says>"."""
    node = re.search(r"running (\w+) node\. Name:'([^']*)'", message)
    said = re.split(r"Status Message: |was false\. ", message)[-1].strip()
    return f" in {node.group(1)} node {node.group(2)!r}: {said}" if node else f": {said}"


def _run_source(module, names, feeds, keyword_inputs) -> list[np.ndarray]:
    import torch

    from toolkit.outputs import leaves

    tensors = [torch.from_numpy(np.ascontiguousarray(feeds[name])) for name in names]
    with torch.no_grad():
        result = module(**dict(zip(names, tensors, strict=True))) if keyword_inputs else module(*tensors)
    return [np.asarray(leaf.detach().cpu().numpy()) for leaf in leaves(result)]
