"""Weights between hand-written twins: the same architecture written in torch and in Keras.

Both models are exported for training (every initializer named after its source parameter), and
each parameter is followed through layout-only nodes (Transpose, Reshape, Squeeze, Unsqueeze,
Identity, Flatten) to the operator that computes with it. There it has a *role*: the operator's
canonical kind (Gemm and MatMul are both a dense product), the input position, and its value in
ONNX's layout (the Transposes composed, Gemm's transB undone). Parameters are then paired in the
order of use along the data flow; a pair must agree on role and canonical shape. Anything else
(different counts, a shape or role that disagrees) refuses the transfer with the list, before
anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx

from toolkit.errors import InputError
from toolkit.training import recurrent

LAYOUT_OPS = frozenset({"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten"})
# ONNX ops that compute the same thing under different names: the role's kind.
KIND = {"Gemm": "dense", "MatMul": "dense", "Add": "add", "Sub": "sub", "Mul": "mul"}


@dataclass
class Role:
    """Where a parameter is used: what computes with it, at which input, in which layout."""

    name: str  # the initializer (= source parameter name)
    kind: str  # canonical operator kind ("Conv", "dense", "BatchNormalization", ...)
    position: int  # input index at that operator (dense products: 1 for the weight)
    order: tuple[int, int]  # (index of the operator in the walk, input position): data-flow order
    steps: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # raw -> canonical
    raw_shape: tuple[int, ...] = ()
    canonical_shape: tuple[int, ...] = ()

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        for action, argument in self.steps:
            array = np.transpose(array, argument) if action == "transpose" else np.reshape(array, argument)
        return array

    def from_canonical(self, array: np.ndarray) -> np.ndarray:
        shapes = [self.raw_shape]
        for action, argument in self.steps:
            shape = shapes[-1]
            shapes.append(tuple(shape[p] for p in argument) if action == "transpose" else tuple(argument))
        for (action, argument), shape in zip(reversed(self.steps), reversed(shapes[:-1]), strict=True):
            array = (
                np.transpose(array, np.argsort(argument))
                if action == "transpose"
                else np.reshape(array, shape)
            )
        return np.ascontiguousarray(array)


def roles(model: onnx.ModelProto, parameter_names: Sequence[str]) -> list[Role]:
    """The role of every named parameter, in data-flow order."""
    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    consumers: dict[str, list[tuple[int, int]]] = {}
    for index, node in enumerate(graph.node):
        for position, name in enumerate(node.input):
            consumers.setdefault(name, []).append((index, position))
    shapes = _shapes(model)
    producers = {output: index for index, node in enumerate(graph.node) for output in node.output}
    rank = _data_flow_ranks(graph, producers)
    found = []
    for name in parameter_names:
        if name not in initializers:
            continue
        raw_shape = tuple(int(d) for d in initializers[name].dims)
        role = Role(name, "unused", -1, (len(graph.node), 0), raw_shape=raw_shape, canonical_shape=raw_shape)
        value, shape = name, raw_shape
        while consumers.get(value):
            index, position = consumers[value][0]
            node = graph.node[index]
            if node.op_type in LAYOUT_OPS and position == 0 and len(consumers[value]) == 1:
                if node.op_type == "Transpose":
                    perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
                    perm = tuple(perm) if perm else tuple(reversed(range(len(shape))))
                    role.steps.append(("transpose", perm))
                    shape = tuple(shape[p] for p in perm)
                else:
                    next_shape = shapes.get(node.output[0])
                    if next_shape is None:
                        break
                    role.steps.append(("reshape", next_shape))
                    shape = next_shape
                value = node.output[0]
                continue
            shape = _classify(role, node, index, position, rank, producers, shape, len(graph.node))
            break
        role.canonical_shape = shape
        found.append(role)
    return sorted(found, key=lambda r: r.order)


def _classify(role: Role, node, index: int, position: int, rank, producers, shape, node_count: int):
    """Fill in `role` from the node that consumes the parameter; returns its canonical shape."""
    role.kind = KIND.get(node.op_type, node.op_type)
    role.position = position
    role.order = (rank.get(index, node_count), position)
    if node.op_type == "Gemm" and position == 1 and _attribute(node, "transB", 0):
        role.steps.append(("transpose", (1, 0)))  # Gemm B as (in, out), like MatMul's
        shape = (shape[1], shape[0])
    if node.op_type in ("Add", "Mul", "Sub"):
        role.position = 1  # a bias or scale, whichever side it stands on
        # ordered right after what it biases or scales (tf2onnx emits all the products first)
        other = next((n for i, n in enumerate(node.input) if i != position), None)
        if other in producers:
            role.order = (rank.get(producers[other], node_count), 2)
    if node.op_type == "Gemm" and position == 2:
        role.kind, role.position = "add", 1  # Gemm's C is MatMul + Add's bias
    if node.op_type == "LayerNormalization" and position in (1, 2):
        # tf2onnx writes Keras's LayerNormalization as primitives: a Mul by gamma, an Add of beta
        role.kind, role.position = ("mul" if position == 1 else "add"), 1
    if role.kind in ("add", "mul", "sub"):
        squeezed = _without_leading_ones(shape)
        if squeezed != shape:
            role.steps.append(("reshape", squeezed))
            shape = squeezed
    return shape


@dataclass
class Match:
    source: Role
    destination: Role

    def convert(self, array: np.ndarray) -> np.ndarray:
        return self.destination.from_canonical(self.source.to_canonical(np.asarray(array)))


def match(source_roles: list[Role], destination_roles: list[Role]) -> list[Match]:
    """Pair the two lists in data-flow order; every pair must agree on kind, position and shape."""
    problems = []
    pairs = []
    for index in range(max(len(source_roles), len(destination_roles))):
        source = source_roles[index] if index < len(source_roles) else None
        destination = destination_roles[index] if index < len(destination_roles) else None
        if source is None or destination is None:
            left = source or destination
            side = "source" if source is not None else "destination"
            problems.append(
                f"{left.name} ({left.kind} {left.canonical_shape}) has no partner in the {side}'s twin"
            )
            continue
        if (source.kind, source.position, source.canonical_shape) != (
            destination.kind,
            destination.position,
            destination.canonical_shape,
        ):
            problems.append(
                f"{source.name} ({source.kind} input {source.position}, {source.canonical_shape}) vs "
                f"{destination.name} ({destination.kind} input {destination.position}, {destination.canonical_shape})"
            )
            continue
        pairs.append(Match(source, destination))
    if problems:
        raise InputError(
            f"cannot match the twins' parameters unambiguously ({len(problems)} problem(s); nothing written): "
            + "; ".join(problems[:8])
            + (" ..." if len(problems) > 8 else "")
        )
    return pairs


def _data_flow_ranks(graph: onnx.GraphProto, producers: dict[str, int]) -> dict[int, int]:
    """Each node's place in a post-order walk back from the outputs, inputs taken in order.

    Node lists order parallel branches as the exporter pleases (tf2onnx may write V's product
    before Q's); this walk orders them by how they are used (Q·Kᵀ, then ·V), the same in twins.
    """
    ranks: dict[int, int] = {}
    for output in graph.output:
        if output.name not in producers:
            continue
        stack = [(producers[output.name], False)]
        while stack:
            index, expanded = stack.pop()
            if expanded:
                ranks.setdefault(index, len(ranks))
                continue
            if index in ranks:
                continue
            stack.append((index, True))
            for name in reversed(graph.node[index].input):
                producer = producers.get(name)
                if producer is not None and producer not in ranks:
                    stack.append((producer, False))
    return ranks


def _without_leading_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    index = 0
    while index < len(shape) - 1 and shape[index] == 1:
        index += 1
    return tuple(shape[index:])


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for value in [*model.graph.value_info, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def _attribute(node: onnx.NodeProto, name: str, default):
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


# --------------------------------------------------------------------------- the whole transfer


@dataclass
class TransferResult:
    matches: list[Match]
    max_abs_difference: float  # between SRC and DST outputs on SRC's example inputs
    output: str
    recurrent_parameters: int = 0  # destination LSTM/GRU parameters set cell by cell (recurrent.py)


def transfer_weights(source_spec, destination_spec, output, rtol: float = 1e-4, atol: float = 1e-5):
    """Copy SRC's weights into DST (a factory for the twin in the other framework), prove the outputs
    agree, then write DST's native checkpoint (.pt state_dict or Keras .weights.h5) to `output`."""
    from toolkit import api
    from toolkit.errors import ParityError
    from toolkit.parity import train
    from toolkit.sources import load_source

    source = load_source(source_spec)
    destination = load_source(destination_spec)
    _check_twins(source, destination, output)
    destination_inputs = destination.example_inputs
    if destination_inputs is None:
        destination_inputs = _inputs_for(destination, source.example_inputs)
    sides = []
    for side, inputs in ((source, source.example_inputs), (destination, destination_inputs)):
        trainee = train.torch_source(side.model) if side.kind == "torch" else train.keras_source(side.model)
        exported = api.convert(side.model, to="onnx", example_inputs=tuple(inputs), trainable=True)
        names = [*trainee.parameters, *trainee.state]
        cells = recurrent.cells(names)
        in_cells = {name for cell in cells for name in cell.values()}
        names = [name for name in names if name not in in_cells]
        sides.append((trainee, roles(exported, names), cells))
    (
        (source_trainee, source_roles, source_cells),
        (destination_trainee, destination_roles, destination_cells),
    ) = sides
    matches = match(source_roles, destination_roles)
    values = {**source_trainee.values(), **source_trainee.values("state")}
    targets = {**destination_trainee.parameters, **destination_trainee.state}
    converted = {m.destination.name: m.convert(values[m.source.name]) for m in matches}
    converted.update(recurrent.transfer(source_cells, destination_cells, values, targets))
    for name, array in converted.items():
        if tuple(array.shape) != tuple(targets[name].shape):
            raise InputError(
                f"{name}: converted shape {array.shape} does not fit {tuple(targets[name].shape)}"
            )
    from toolkit.training.mapping import MappedParameter

    for name, array in converted.items():
        MappedParameter(name, name, targets[name], None, True).assign(array)
    reference = train.evaluate(source_trainee, source.example_inputs)
    result = train.evaluate(destination_trainee, _inputs_for(destination, source.example_inputs))
    difference = float(np.max(np.abs(reference - result))) if reference.size else 0.0
    if reference.shape != result.shape or not np.allclose(result, reference, rtol=rtol, atol=atol):
        raise ParityError(
            f"weights copied but the twins disagree on {source.label}'s example inputs (max abs {difference:.3g}); "
            "nothing written: are the architectures really the same?"
        )
    _write(destination, output)
    return TransferResult(matches, difference, str(output), sum(len(c) for c in destination_cells))


def _check_twins(source, destination, output) -> None:
    """A torch and a Keras twin, the checkpoint suffix of the destination's framework, example inputs."""
    from toolkit.errors import UsageError

    kinds = {source.kind, destination.kind}
    if kinds != {"torch", "keras"}:
        raise UsageError(
            f"transfer-weights moves weights between a torch and a Keras twin; got {source.kind} and {destination.kind}"
        )
    expected_suffix = ".pt" if destination.kind == "torch" else ".weights.h5"
    if not str(output).endswith(expected_suffix):
        raise UsageError(
            f"{output}: the {destination.kind} twin's checkpoint is written as *{expected_suffix}"
        )
    if source.example_inputs is None:
        raise UsageError(f"{source.label}: needs example inputs (an example_inputs() beside the factory)")


def _inputs_for(destination, source_inputs):
    """SRC's example inputs in DST's layout: channels-last Keras images are channels-first in torch."""
    inputs = []
    templates = destination.example_inputs or [None] * len(source_inputs)
    for array, template in zip(source_inputs, templates, strict=False):
        array = np.asarray(array)
        if template is not None and tuple(template.shape[1:]) != tuple(array.shape[1:]) and array.ndim == 4:
            perm = (0, 3, 1, 2) if destination.kind == "torch" else (0, 2, 3, 1)
            array = np.ascontiguousarray(np.transpose(array, perm))
        elif template is None and array.ndim == 4:
            perm = (0, 3, 1, 2) if destination.kind == "torch" else (0, 2, 3, 1)
            array = np.ascontiguousarray(np.transpose(array, perm))
        inputs.append(array)
    return inputs


def _write(destination, output) -> None:
    from toolkit.io import atomic_output

    with atomic_output(output) as temporary:
        if destination.kind == "torch":
            import torch

            torch.save(destination.model.state_dict(), temporary)
        else:
            staging = temporary.with_name(temporary.name + ".weights.h5")  # Keras insists on the suffix
            destination.model.save_weights(staging)
            staging.replace(temporary)
