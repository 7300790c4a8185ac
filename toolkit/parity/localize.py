"""Where two models part: the first ONNX node whose output diverges, and how the error grows after it.

Both sides are reduced to one map, ONNX value name -> array, from whatever can produce it:
onnxruntime with every node output exposed as a graph output, onnx's ReferenceEvaluator, the
torch importer's fx graph (its nodes carry `meta["onnx_value"]`), the TensorFlow importer's walker
(`observe`), or a torch source module's forward hooks matched to the module names torch.onnx records
on each node (`pkg.torch.onnx.name_scopes`). The ONNX graph gives the topological order and names.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx

from toolkit.io import first_line, has_external_data, load_onnx
from toolkit.parity.compare import compare_output
from toolkit.source_layers import layer_chain, source_layer, torch_module_scope, wrapper_prefix
from toolkit.sources import Source

# Localisation runs by default on a failure only below this many nodes (it exposes every value).
AUTO_NODE_LIMIT = 5000
# The per-node divergence path lists at most this many nodes, the first and the last ones kept
# (the per-layer view is computed from the whole path first).
PATH_LIMIT = 400
# The per-layer path groups nodes at the deepest level of enclosing layers that fits in this many rows.
LAYER_ROWS = 8


@dataclass
class ValueDifference:
    """The error of one ONNX value between the two sides."""

    value: str
    max_abs: float
    max_rel: float
    relative_l2: float  # ||candidate - reference|| / ||reference||: comparable across layers
    passed: bool
    shape: tuple[int, ...] | None = None
    candidate_dtype: str = ""
    problem: str = ""


@dataclass
class PathStep:
    node: str
    op_type: str
    source_layer: str
    max_abs: float
    relative_l2: float
    enclosing_layers: list[str] = field(default_factory=list)  # outermost first, the source layer last


@dataclass
class LayerStep:
    """Consecutive path nodes of one source layer, collapsed: the error where the layer hands on."""

    source_layer: str
    nodes: int
    first_node: str
    last_node: str
    max_abs: float  # of the layer's last node on the path
    relative_l2: float
    growth: float  # relative_l2 / the previous layer's (the first layer: / its first node's)


@dataclass
class Divergence:
    """The verdict of localisation: `node` is empty when no compared node diverges."""

    method: str  # which two computations were compared, in words
    compared_nodes: int
    node: str = ""
    op_type: str = ""
    source_layer: str = ""
    output_errors: list[ValueDifference] = field(default_factory=list)
    input_errors: list[ValueDifference] = field(default_factory=list)
    path: list[PathStep] = field(default_factory=list)
    layers: list[LayerStep] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    @property
    def found(self) -> bool:
        return bool(self.node)

    def to_dict(self) -> dict:
        return _json_safe(asdict(self))

    def summary(self) -> str:
        if not self.found:
            return (
                f"no diverging node among {self.compared_nodes} compared ({self.method}). {self.note}".strip()
            )
        worst = max(self.output_errors, key=lambda e: _number(e.max_abs), default=None)
        inputs = max((_number(e.max_abs) for e in self.input_errors), default=0.0)
        layer = f" [{self.source_layer}]" if self.source_layer else ""
        figure = f"output max abs {worst.max_abs:.3g}" if worst else "output differs"
        return f'first divergence at node "{self.node}" ({self.op_type}){layer}: {figure}, inputs max abs {inputs:.3g}'


# --------------------------------------------------------------------------- producing values


def onnxruntime_values(
    model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], provider: str = "cpu"
) -> dict:
    """Every node output of the top graph, from one onnxruntime run with all of them exposed."""
    from toolkit.runtime import OnnxRuntimeModel

    exposed = expose_all_values(model)
    session = OnnxRuntimeModel(exposed, provider=provider)
    session.label = "localisation"
    names = session.output_names
    return session.run({name: feeds[name] for name in session.input_names}, names)


def expose_all_values(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose graph outputs include every node output (onnxruntime infers the types)."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {output.name for output in exposed.graph.output}
    for node in exposed.graph.node:
        for name in node.output:
            if name and name not in present:
                exposed.graph.output.add().name = name
                present.add(name)
    return exposed


def reference_evaluator_values(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict:
    """Every value onnx's ReferenceEvaluator computes: the independent oracle."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model)
    return dict(evaluator.run(None, dict(feeds), intermediate=True))


def fx_values(module: Any, inputs: Sequence[np.ndarray]) -> dict:
    """The torch importer's fx graph run node by node; values keyed by the ONNX names its nodes carry."""
    import torch
    import torch.fx

    values: dict[str, np.ndarray] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, node):
            result = super().run_node(node)
            info = node.meta.get("onnx_value")
            if info is not None and isinstance(result, torch.Tensor):
                values[info.name] = _torch_to_numpy(result)
            unbiased = node.meta.get("onnx_value_without_bias")  # a MatMul + Add folded into F.linear
            if unbiased is not None:
                x, weight, _ = self.fetch_args_kwargs_from_env(node)[0]
                values[unbiased.name] = _torch_to_numpy(torch.nn.functional.linear(x, weight))
            return result

    with torch.no_grad():
        Recorder(module).run(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
    return values


def tensorflow_importer_values(module: Any, inputs: Sequence[np.ndarray]) -> dict:
    """The TensorFlow importer's walker run eagerly, observing every step (values in ONNX layout)."""
    values: dict[str, np.ndarray] = {}

    def observe(step, outputs):
        for name, value in zip(step.node.output, outputs, strict=False):
            if name and value is not None and not isinstance(value, (list, tuple)):
                values[name] = np.asarray(value)

    module.run_observed(inputs, observe)
    return values


def _is_tensorflow_import(module: Any) -> bool:
    """A module from the TensorFlow importer (it can run its walker observed)."""
    kind = type(module)  # on the class: reading the `onnx_model` property rebuilds the whole model
    return hasattr(kind, "run_observed") and hasattr(kind, "onnx_model")


def torch_module_values(module: Any, model: onnx.ModelProto, inputs: Sequence[np.ndarray]) -> dict:
    """A torch source module's layer outputs, keyed by the ONNX value that torch.onnx made of each.

    torch.onnx (dynamo) records the module path of every node (`pkg.torch.onnx.name_scopes`); a
    module's output is the output of the last node inside its scope, when the shapes agree.
    """
    import torch

    named = dict(module.named_modules()) if hasattr(module, "named_modules") else {}
    last_node: dict[str, onnx.NodeProto] = {}
    for node in model.graph.node:
        path = module_path(node)
        if path is None:
            continue
        parts = path.split(".") if path else []
        for length in range(1, len(parts) + 1):
            last_node[".".join(parts[:length])] = node
    values: dict[str, np.ndarray] = {}
    calls: dict[str, int] = {}
    handles = []

    def hook_for(name: str, value_name: str):
        def hook(_module, _inputs, output):
            calls[name] = calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor):
                values[value_name] = _torch_to_numpy(output)

        return hook

    for name, node in last_node.items():
        if name in named and node.output and node.output[0]:
            handles.append(named[name].register_forward_hook(hook_for(name, node.output[0])))
    try:
        with torch.no_grad():
            module(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
    finally:
        for handle in handles:
            handle.remove()
    # A module called twice (shared weights) has no single output to compare.
    shared = {last_node[name].output[0] for name, count in calls.items() if count > 1}
    return {name: value for name, value in values.items() if name not in shared}


def keras_layer_values(keras_model: Any, model: onnx.ModelProto, inputs: Sequence[np.ndarray]) -> dict:
    """A functional Keras model's layer outputs, keyed by the ONNX value of the last node tf2onnx named after the layer."""
    import keras

    layer_names = {layer.name for layer in keras_model.layers}
    last_node: dict[str, onnx.NodeProto] = {}
    for node in model.graph.node:
        layer = _tf_layer_of(node.name, layer_names)
        if layer:
            last_node[layer] = node
    # A layer called more than once (shared weights) has no single output to compare.
    layers = [
        layer
        for layer in keras_model.layers
        if layer.name in last_node and len(getattr(layer, "_inbound_nodes", [None])) == 1
    ]
    if not layers:
        return {}
    probe = keras.Model(keras_model.inputs, [_called_output(layer) for layer in layers])
    outputs = probe(list(inputs), training=False)  # Keras matches the structure of `model.inputs`, a list
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {
        last_node[layer.name].output[0]: np.asarray(value)
        for layer, value in zip(layers, outputs, strict=True)
        if last_node[layer.name].output
    }


def _called_output(layer):
    """The layer's output where the model calls it: a nested model's own `.output` is its inner graph's."""
    nodes = getattr(layer, "_inbound_nodes", None)
    if nodes and getattr(nodes[0], "outputs", None):
        return nodes[0].outputs[0]
    return layer.output


# --------------------------------------------------------------------------- naming


def module_path(node: onnx.NodeProto) -> str | None:
    """The torch module path torch.onnx (dynamo) recorded for a node ("layers.0.conv1"), else None."""
    scope = torch_module_scope(node)
    return scope[0] if scope is not None else None


def _tf_layer_of(node_name: str, layer_names: set[str]) -> str | None:
    """The Keras layer a tf2onnx node belongs to: `model_1/conv2d_1/Relu` -> `conv2d` (tracing adds `_1`)."""
    parts = node_name.split("/")[1:-1]
    for part in parts:
        if part in layer_names:
            return part
    for part in parts:
        stem, separator, number = part.rpartition("_")
        if separator and number.isdigit() and stem in layer_names:
            return stem
    return None


def _align_layouts(onnx_values: dict, other_values: dict) -> dict:
    """Framework values in the ONNX value's layout: channels-last tensors transposed when only that differs."""
    aligned = {}
    for name, value in other_values.items():
        target = onnx_values.get(name)
        if target is not None and np.shape(value) != np.shape(target):
            for perm in ((0, 3, 1, 2), (0, 2, 1), (0, 4, 1, 2, 3)):
                if np.ndim(value) == len(perm) and np.transpose(value, perm).shape == np.shape(target):
                    value = np.transpose(value, perm)
                    break
        aligned[name] = value
    return aligned


# --------------------------------------------------------------------------- comparing


def first_divergence(
    model: onnx.ModelProto,
    reference_values: Mapping[str, np.ndarray],
    candidate_values: Mapping[str, np.ndarray],
    method: str,
    rtol: float | None = None,
    atol: float | None = None,
) -> Divergence:
    """Walk the graph in topological order; the first node with a compared output out of tolerance."""
    errors: dict[str, ValueDifference] = {}

    def error_of(name: str) -> ValueDifference | None:
        if name in errors:
            return errors[name]
        if name not in reference_values or name not in candidate_values:
            return None
        errors[name] = value_error(name, reference_values[name], candidate_values[name], rtol, atol)
        return errors[name]

    nodes = topological_nodes(model.graph)
    prefix = wrapper_prefix(nodes)
    compared = 0
    result = Divergence(method=method, compared_nodes=0)
    for index, node in enumerate(nodes):
        outputs = [error_of(name) for name in node.output if name]
        outputs = [e for e in outputs if e is not None]
        if not outputs:
            continue
        compared += 1
        if all(e.passed for e in outputs):
            continue
        result.node = node.name or f"{node.op_type}_{index}"
        result.op_type = node.op_type
        result.source_layer = source_layer(node, prefix)
        result.output_errors = outputs
        result.input_errors = [e for e in (error_of(name) for name in node.input if name) if e is not None]
        path = _growth_path(model.graph, nodes, index, error_of, prefix)
        result.layers = layer_steps(path)
        if len(path) > PATH_LIMIT:
            path = path[: PATH_LIMIT // 2] + path[-PATH_LIMIT // 2 :]
        result.path = path
        break
    result.compared_nodes = compared if not result.found else _count_compared(nodes, error_of)
    if compared == 0:
        result.note = "the two sides share no ONNX value names to compare"
    return result


def value_error(
    name: str, reference: np.ndarray, candidate: np.ndarray, rtol: float | None, atol: float | None
) -> ValueDifference:
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    if candidate.dtype != reference.dtype and candidate.dtype.kind == "f" and reference.dtype.kind == "f":
        # A lower-precision candidate is judged by the reference's tolerance: that is the question asked.
        candidate_dtype = str(candidate.dtype)
    else:
        candidate_dtype = str(candidate.dtype) if candidate.dtype != reference.dtype else ""
    if reference.dtype.kind not in "biuf" or candidate.dtype.kind not in "biuf":
        return ValueDifference(name, float("nan"), float("nan"), float("nan"), True, tuple(reference.shape))
    comparison = compare_output(name, reference, candidate, rtol, atol)
    relative = float("nan")
    if comparison.candidate_shape == comparison.reference_shape or "squeezing" in comparison.problem:
        difference = reference.astype(np.float64) - candidate.astype(np.float64).reshape(reference.shape)
        finite = np.isfinite(difference)
        norm = float(np.linalg.norm(reference.astype(np.float64)[finite]))
        relative = (
            float(np.linalg.norm(difference[finite]) / norm)
            if norm > 0
            else float(np.abs(difference[finite]).max(initial=0.0))
        )
    problem = comparison.problem if "dtype" not in comparison.problem else ""
    return ValueDifference(
        name,
        comparison.max_abs,
        comparison.max_rel,
        relative,
        comparison.passed,
        tuple(reference.shape),
        candidate_dtype,
        problem,
    )


def topological_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Nodes with producers first (exporters usually comply; this makes sure)."""
    from toolkit.importers.core import topological_order

    return topological_order(graph)


def _growth_path(graph, nodes, start: int, error_of: Callable, prefix: str = "") -> list[PathStep]:
    """From the diverging node to the worst graph output, each step the consumer with the largest error."""
    producer = {name: i for i, node in enumerate(nodes) for name in node.output if name}
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(i)
    # Walk backwards from the worst graph output, following the worst input, until the start node.
    outputs = [(error_of(o.name), o.name) for o in graph.output]
    outputs = [(e, name) for e, name in outputs if e is not None and name in producer]
    reachable = _downstream(nodes, start, consumers)
    outputs = [(e, name) for e, name in outputs if producer[name] in reachable]
    chain: list[int] = []
    if outputs:
        _, name = max(outputs, key=lambda item: _number(item[0].relative_l2))
        current = producer[name]
        seen = set()
        while current != start and current not in seen:
            seen.add(current)
            chain.append(current)
            options = [
                producer[i] for i in nodes[current].input if i in producer and producer[i] in reachable
            ]
            if not options:
                break
            current = max(options, key=lambda p: _node_error(nodes[p], error_of))
        chain.append(start)
        chain.reverse()
    else:
        chain = [start]
    steps = []
    for i in chain:
        node = nodes[i]
        worst = _worst_error(node, error_of)
        if worst is None:
            continue
        steps.append(
            PathStep(
                node.name or node.op_type,
                node.op_type,
                source_layer(node, prefix),
                worst.max_abs,
                worst.relative_l2,
                layer_chain(node, prefix),
            )
        )
    return steps


def layer_steps(path: Sequence[PathStep], rows: int = LAYER_ROWS) -> list[LayerStep]:
    """The path with consecutive nodes of one layer collapsed into one row.

    The first row is the diverging node's own layer; after it, nodes are grouped at the deepest
    level of their enclosing layers (`encoder.layer.7`, then `encoder.layer.7.attention`, ...) that
    keeps the table within `rows` rows, so a person sees where the error travels, block by block.
    """
    if not path:
        return []
    depth = max(len(step.enclosing_layers) for step in path)
    while depth > 1 and len(_grouped(path, depth - 1)) > rows:
        depth -= 1
    layers = _grouped(path, depth - 1)
    before = _number(path[0].relative_l2)
    for layer in layers:
        after = _number(layer.relative_l2)
        layer.growth = after / before if before > 0 else float("nan")
        before = after
    return layers


def _grouped(path: Sequence[PathStep], level: int) -> list[LayerStep]:
    first = path[0].source_layer
    in_first = True  # the diverging layer keeps its own row, at its own depth
    layers: list[LayerStep] = []
    for step in path:
        in_first = in_first and step.source_layer == first
        chain = step.enclosing_layers or [step.source_layer]
        key = first if in_first else chain[min(level, len(chain) - 1)]
        if layers and key and layers[-1].source_layer == key:  # nodes of no layer keep a row each
            current = layers[-1]
            current.nodes += 1
            current.last_node, current.max_abs, current.relative_l2 = (
                step.node,
                step.max_abs,
                step.relative_l2,
            )
            continue
        layers.append(LayerStep(key, 1, step.node, step.node, step.max_abs, step.relative_l2, 1.0))
    return layers


def _downstream(nodes, start: int, consumers) -> set[int]:
    reached = {start}
    frontier = [start]
    while frontier:
        index = frontier.pop()
        for name in nodes[index].output:
            for consumer in consumers.get(name, []):
                if consumer not in reached:
                    reached.add(consumer)
                    frontier.append(consumer)
    return reached


def _worst_error(node, error_of) -> ValueDifference | None:
    errors = [e for e in (error_of(name) for name in node.output if name) if e is not None]
    return max(errors, key=lambda e: _number(e.relative_l2), default=None)


def _node_error(node, error_of) -> float:
    worst = _worst_error(node, error_of)
    return _number(worst.relative_l2, -1.0) if worst is not None else -1.0


def _count_compared(nodes, error_of) -> int:
    return sum(1 for node in nodes if any(error_of(name) is not None for name in node.output if name))


# --------------------------------------------------------------------------- choosing the two sides


def localize(
    reference: Source,
    candidate: Source,
    reference_feeds: Sequence[np.ndarray],
    candidate_feeds: Sequence[np.ndarray],
    rtol: float | None = None,
    atol: float | None = None,
) -> Divergence:
    """Choose the two value producers that fit the pair, run them and find the first diverging node."""
    import time

    started = time.perf_counter()
    try:
        divergence = _localize(
            _with_weights(reference),
            _with_weights(candidate),
            list(reference_feeds),
            list(candidate_feeds),
            rtol,
            atol,
        )
    except Exception as error:  # localisation is advice: a failure here must not hide the verdict
        divergence = Divergence(
            method="unavailable",
            compared_nodes=0,
            note=f"localisation failed: {type(error).__name__}: {first_line(error)}",
        )
    divergence.seconds = time.perf_counter() - started
    return divergence


def _with_weights(side: Source) -> Source:
    """An ONNX side whose weights stay in external data (sources load them lazily), loaded whole:
    the probes serialise the model and add outputs to it."""
    if side.kind != "onnx" or side.path is None or not has_external_data(side.model):
        return side
    return dataclasses.replace(side, model=load_onnx(side.path))


def _localize(
    reference: Source, candidate: Source, reference_feeds, candidate_feeds, rtol, atol
) -> Divergence:
    if reference.kind == "onnx" and candidate.kind == "onnx":
        reference_values = onnxruntime_values(reference.model, _named(reference.model, reference_feeds))
        candidate_values = onnxruntime_values(candidate.model, _named(candidate.model, candidate_feeds))
        shared = set(reference_values) & set(candidate_values)
        if len(shared) > len(reference.model.graph.output):
            return first_divergence(
                reference.model,
                reference_values,
                candidate_values,
                "onnxruntime: reference vs candidate graph",
                rtol,
                atol,
            )
        return _oracle(candidate, candidate_feeds, rtol, atol, "the two graphs share no value names")
    if reference.kind == "onnx" or candidate.kind == "onnx":
        return _localize_against_onnx(reference, candidate, reference_feeds, candidate_feeds, rtol, atol)
    # Neither side is ONNX: an imported model still knows its ONNX graph.
    for imported, other, feeds in (
        (candidate, reference, candidate_feeds),
        (reference, candidate, reference_feeds),
    ):
        graph_model = _imported_onnx(imported)
        if graph_model is not None:
            return _oracle(
                Source("onnx", graph_model, imported.label, None),
                feeds,
                rtol,
                atol,
                f"{other.label} is not an ONNX model; compared the imported graph with the oracle",
                imported=imported,
            )
    return Divergence(
        method="unavailable",
        compared_nodes=0,
        note="localisation needs an ONNX model or an imported model on one side; pass the .onnx file as the reference",
    )


def _localize_against_onnx(
    reference: Source, candidate: Source, reference_feeds, candidate_feeds, rtol, atol
) -> Divergence:
    """One side is ONNX (run in onnxruntime), the other a framework model probed for its values."""
    onnx_side, other = (reference, candidate) if reference.kind == "onnx" else (candidate, reference)
    onnx_feeds, other_feeds = (
        (reference_feeds, candidate_feeds) if onnx_side is reference else (candidate_feeds, reference_feeds)
    )
    onnx_values = onnxruntime_values(onnx_side.model, _named(onnx_side.model, onnx_feeds))
    try:
        other_values, method = _framework_values(other, onnx_side.model, other_feeds)
    except Exception as error:  # a model the probes cannot open: fall back to the oracle
        other_values, method = (
            {},
            f"intermediate values unavailable ({type(error).__name__}: {first_line(error)})",
        )
    if other_values:
        other_values = _align_layouts(onnx_values, other_values)
        shared = set(other_values) & set(onnx_values)
        if shared:
            first, second = (
                (onnx_values, other_values) if onnx_side is reference else (other_values, onnx_values)
            )
            return first_divergence(onnx_side.model, first, second, method, rtol, atol)
    return _oracle(onnx_side, onnx_feeds, rtol, atol, f"{other.label}: {method or 'no intermediate values'}")


def _framework_values(side: Source, model: onnx.ModelProto, feeds) -> tuple[dict, str]:
    """Intermediate values of a non-ONNX side keyed by `model`'s value names, and how they were got."""
    if side.kind == "torch":
        import torch.fx

        if isinstance(side.model, torch.fx.GraphModule) and hasattr(side.model, "onnx_output_names"):
            return fx_values(side.model, feeds), "onnxruntime vs the torch importer's fx graph"
        values = torch_module_values(side.model, model, feeds)
        if values:
            return values, "torch forward hooks on named modules vs onnxruntime"
        return {}, "torch.onnx recorded no module names to match"
    if side.kind == "tensorflow" and _is_tensorflow_import(side.model):
        return tensorflow_importer_values(
            side.model, feeds
        ), "onnxruntime vs the TensorFlow importer's walker"
    if side.kind == "keras":
        values = keras_layer_values(side.model, model, feeds)
        if values:
            return values, "Keras layer outputs vs onnxruntime"
        return {}, "no Keras layer names in the ONNX node names"
    return {}, "no intermediate values available"


def _oracle(onnx_side: Source, feeds, rtol, atol, reason: str, imported: Source | None = None) -> Divergence:
    """The ONNX graph in onnx's ReferenceEvaluator (the oracle) against onnxruntime or the importer."""
    model = onnx_side.model
    named = _named(model, feeds)
    oracle = reference_evaluator_values(model, named)
    if imported is not None:
        values, method = _framework_values(imported, model, feeds)
        method = f"ReferenceEvaluator vs {method.split(' vs ')[-1]}"
    else:
        values, method = (
            onnxruntime_values(model, named),
            "ReferenceEvaluator (oracle) vs onnxruntime on the candidate graph",
        )
    divergence = first_divergence(model, oracle, values, method, rtol, atol)
    divergence.note = (reason + ". " + divergence.note).strip(". ") if reason else divergence.note
    return divergence


def _imported_onnx(side: Source) -> onnx.ModelProto | None:
    if side.kind == "tensorflow" and _is_tensorflow_import(side.model):
        return side.model.onnx_model
    return None


def _named(model: onnx.ModelProto, feeds: Sequence[np.ndarray]) -> dict:
    initializers = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    return dict(zip(names, feeds, strict=False))


def graph_size(side: Source) -> int | None:
    """Node count of the ONNX graph localisation would walk, or None when there is none."""
    if side.kind == "onnx":
        return len(side.model.graph.node)
    if side.kind == "tensorflow" and _is_tensorflow_import(side.model):
        return len(side.model.onnx_graph.node)
    return None


def _torch_to_numpy(tensor) -> np.ndarray:
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


def _number(value: float, default: float = 0.0) -> float:
    return default if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
