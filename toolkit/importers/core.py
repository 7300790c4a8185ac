"""The one graph walker both importers share: opsets, the up-front support scan, constant folding,
attribute parsing with the spec's defaults, topological walk and subgraphs.

A framework importer supplies an `OperatorTable` (handlers named after ONNX operators) and a
`ConstantBinder` (how a constant becomes a framework value). Everything here is framework-neutral.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import onnx
import onnx.inliner
from onnx import helper, numpy_helper

from toolkit import progress
from toolkit.errors import InputError, UnsupportedOperatorError
from toolkit.importers import training, weights
from toolkit.importers.common import sparse_to_dense
from toolkit.importers.semantics import shapes
from toolkit.io import first_line, load_onnx

ONNX_DOMAIN = ""
OLDEST_SUPPORTED_OPSET = 7
# Ops whose result differs between runs or that have side effects: never folded at build time.
NONDETERMINISTIC_OPS = frozenset(
    {
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
        "Dropout",
    }
)
# Folding a node evaluates it with onnx's reference evaluator; past this size it is left to run time.
FOLD_ELEMENT_LIMIT = 1 << 20


# --------------------------------------------------------------------------- the operator table


@dataclass(frozen=True)
class Handler:
    """One registered implementation of an ONNX operator from opset `since` on."""

    op_type: str
    domain: str
    since: int
    function: Callable
    check: Callable | None  # check(attributes, context) -> reason string when a node cannot be handled
    keyword_names: frozenset[str]
    accepts_any_keyword: bool
    wants_context: bool

    def accepts(self, attribute: str) -> bool:
        return self.accepts_any_keyword or attribute in self.keyword_names


class OperatorTable:
    """Handlers per (domain, op_type), several versions each; the newest `since` ≤ opset wins."""

    def __init__(self, framework: str):
        self.framework = framework
        self._handlers: dict[tuple[str, str], list[Handler]] = {}
        # Element types the framework cannot represent, checked before any work (e.g. strings in torch).
        self.unsupported_element_types: set[int] = set()
        # (domain, op_type) of the operators that take those element types all the same (torch's
        # string operators, which compute on numpy arrays).
        self.exempt_operators: set[tuple[str, str]] = set()

    def register(
        self,
        op_type: str,
        since: int = 1,
        domain: str = ONNX_DOMAIN,
        check: Callable | None = None,
    ) -> Callable[[Callable], Callable]:
        def decorate(function: Callable) -> Callable:
            parameters = inspect.signature(function).parameters.values()
            keyword_names = frozenset(
                p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "context"
            )
            handler = Handler(
                op_type=op_type,
                domain=domain,
                since=since,
                function=function,
                check=check,
                keyword_names=keyword_names,
                accepts_any_keyword=any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters),
                wants_context=any(p.name == "context" for p in parameters),
            )
            versions = self._handlers.setdefault((domain, op_type), [])
            versions.append(handler)
            versions.sort(key=lambda h: h.since)
            return function

        return decorate

    def lookup(self, domain: str, op_type: str, opset: int) -> Handler | None:
        domain = "" if domain == "ai.onnx" else domain
        candidates = [h for h in self._handlers.get((domain, op_type), []) if h.since <= opset]
        return candidates[-1] if candidates else None

    def operators(self) -> list[tuple[str, str, int]]:
        return sorted((d, op, h.since) for (d, op), hs in self._handlers.items() for h in hs)


# --------------------------------------------------------------------------- what handlers see


@dataclass
class ValueInfo:
    """What shape inference knows of a value: ONNX element type (a sequence's: its tensors') and dims
    (int, str or None)."""

    name: str
    element_type: int = 0
    shape: tuple[int | str | None, ...] | None = None
    # For a small integer tensor computed from shapes (Shape → Slice/Gather → Concat ...): each
    # element as an int or a dimension's symbol (see `dims`); None when nothing is known.
    elements: np.ndarray | None = None

    def dims(self) -> tuple[int | str, ...] | None:
        """Each dimension as its size, its dim_param, or a symbol naming this value's axis:
        two dimensions with the same symbol are equal, whatever the batch turns out to be."""
        if self.shape is None:
            return None
        return tuple(d if d is not None else f"{self.name}[{axis}]" for axis, d in enumerate(self.shape))

    @property
    def numpy_dtype(self) -> np.dtype | None:
        if not self.element_type:
            return None
        try:
            return np.dtype(helper.tensor_dtype_to_np_dtype(self.element_type))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class NodeContext:
    """Facts about the node being built, for handlers that declare a `context` keyword."""

    name: str
    op_type: str
    domain: str
    opset: int
    input_names: list[str]
    output_names: list[str]
    inputs: list[ValueInfo | None]
    outputs: list[ValueInfo | None]

    @property
    def num_outputs(self) -> int:
        return len(self.output_names)

    def output_used(self, index: int) -> bool:
        return index < len(self.output_names) and bool(self.output_names[index])


class ConstantBinder(Protocol):
    """How a framework represents constants; the rest of a value's life is the handlers' business.

    A binder may also define `refine(value, info) -> value`: called on every step's outputs with
    what ONNX shape inference knows of them (a tracer that lost a rank or a size gets it back).
    """

    def constant(self, array: np.ndarray, name: str, trainable: bool) -> Any: ...


@dataclass
class Step:
    """One node, resolved: its handler, its parsed attributes and where its inputs come from."""

    node: onnx.NodeProto
    handler: Handler
    attributes: dict[str, Any]
    context: NodeContext


@dataclass
class Subgraph:
    """A graph attribute (If branches, Loop/Scan bodies) ready to call with outer-scope values."""

    graph: PreparedGraph
    binder: ConstantBinder
    outer: Mapping[str, Any]
    scope: Callable[[Step], Any] | None = None  # run_graph's per-step context manager, passed on

    @property
    def input_names(self) -> list[str]:
        return self.graph.input_names

    @property
    def output_names(self) -> list[str]:
        return self.graph.output_names

    def __call__(self, *inputs: Any) -> list[Any]:
        return run_graph(
            self.graph,
            dict(zip(self.graph.input_names, inputs, strict=True)),
            self.binder,
            self.outer,
            scope=self.scope,
        )


@dataclass
class PreparedGraph:
    """A graph after the scan: resolved steps, constants, and names in the order callers use."""

    graph: onnx.GraphProto
    steps: list[Step]
    input_names: list[str]  # graph inputs that are not initializers, in graph order
    output_names: list[str]
    constants: dict[str, np.ndarray]  # initializers, Constant nodes and folded values
    trainable: set[str]  # float initializers: parameters in the imported model
    value_info: dict[str, ValueInfo]
    subgraphs: dict[tuple[int, str], PreparedGraph] = field(default_factory=dict)  # (step index, attribute)
    state: set[str] = field(default_factory=set)  # running statistics: buffers, updated in training mode


@dataclass
class PreparedModel:
    model: onnx.ModelProto
    opsets: dict[str, int]
    graph: PreparedGraph


# --------------------------------------------------------------------------- preparing a model


def prepare(
    model: onnx.ModelProto | str | os.PathLike,
    table: OperatorTable,
    base_dir: str | os.PathLike | None = None,
) -> PreparedModel:
    """Load, upgrade, infer shapes, scan for support (raising one error listing every problem), fold.

    Large initializers are detached first (weights.py): the tools below work on a light model, and
    external data (relative to `base_dir`, or to the file's directory) is memory-mapped, not read.
    """
    if not isinstance(model, onnx.ModelProto):
        base_dir = os.path.dirname(os.path.abspath(model))
        model = load_onnx(model, load_external_data=False)
    model, detached = weights.detach_weights(model, base_dir)
    model = _upgrade(model)
    if model.functions:
        # Local functions (torch.onnx writes some) become plain nodes: one walker, no call stack.
        model = onnx.inliner.inline_local_functions(model)
    model = _infer_shapes(model)
    for _ in range(4):  # a body may itself use function ops (SoftmaxCrossEntropyLoss → NLL loss)
        expanded = _expand_schema_functions(model, table)
        if expanded is model:
            break
        model = _infer_shapes(expanded)
    opsets = {
        ("" if entry.domain == "ai.onnx" else entry.domain): entry.version for entry in model.opset_import
    }
    problems: list[tuple[str, str, int, str]] = []
    prepared = _prepare_graph(model.graph, table, opsets, {}, problems, outer_constants={}, detached=detached)
    if problems:
        raise UnsupportedOperatorError(_unique(problems), target=table.framework)
    return PreparedModel(model=model, opsets=opsets, graph=prepared)


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # shape inference is advice: a model it rejects can still import
        return model


def _expand_schema_functions(model: onnx.ModelProto, table: OperatorTable) -> onnx.ModelProto:
    """Top-level nodes with no handler whose schema defines a function body (Attention,
    RotaryEmbedding, AffineGrid, the window functions, ...) become that body's nodes."""
    opset = next((e.version for e in model.opset_import if e.domain in ("", "ai.onnx")), None)
    if opset is None:
        return model
    types = {v.name: v.type for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]}
    for initializer in model.graph.initializer:
        types[initializer.name] = helper.make_tensor_type_proto(initializer.data_type, list(initializer.dims))
    functions = []
    expanded = onnx.ModelProto()
    expanded.CopyFrom(model)
    for index, node in enumerate(expanded.graph.node):
        if node.domain not in ("", "ai.onnx") or table.lookup("", node.op_type, opset) is not None:
            continue
        schema = _schema(node.op_type, opset, "")
        if schema is None:
            continue
        try:
            if schema.has_context_dependent_function:
                input_types = [types.get(name, onnx.TypeProto()).SerializeToString() for name in node.input]
                body = schema.get_context_dependent_function_with_opset_version(
                    opset, node.SerializeToString(), input_types
                )
            elif schema.has_function:
                body = schema.get_function_with_opset_version(opset)
            else:
                continue
        except Exception:  # no body for this opset or these types: reported as unsupported later
            continue
        if not body:
            continue
        function = onnx.FunctionProto()
        function.ParseFromString(body)
        function.domain, function.name = f"toolkit.expanded.{len(model.opset_import)}.{index}", node.op_type
        node.domain = function.domain
        # The body refers to attributes (`@periodic`); the node must carry the spec defaults it omits.
        present = {attribute.name for attribute in node.attribute}
        for attribute_name, attribute in schema.attributes.items():
            default = attribute.default_value
            if (
                attribute_name not in present
                and default is not None
                and default.type != onnx.AttributeProto.UNDEFINED
            ):
                node.attribute.append(default)
        functions.append(function)
    if not functions:
        return model
    expanded.functions.extend(functions)
    expanded.opset_import.extend(helper.make_opsetid(f.domain, 1) for f in functions)
    try:
        return onnx.inliner.inline_local_functions(expanded)
    except Exception:
        return model


def _upgrade(model: onnx.ModelProto) -> onnx.ModelProto:
    opset = next((e.version for e in model.opset_import if e.domain in ("", "ai.onnx")), None)
    if opset is None or opset >= OLDEST_SUPPORTED_OPSET:
        return model
    try:
        return onnx.version_converter.convert_version(model, OLDEST_SUPPORTED_OPSET)
    except Exception as error:
        raise InputError(
            f"model uses opset {opset}, older than {OLDEST_SUPPORTED_OPSET}, and onnx's version converter "
            f"cannot upgrade it ({first_line(error)}); re-export with a newer opset"
        ) from error


def _value_infos(graph: onnx.GraphProto) -> dict[str, ValueInfo]:
    infos = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type if value.type.HasField("tensor_type") else None
        if tensor_type is None:
            # A sequence keeps its tensors' element type (a traced Loop carrying an empty one needs it).
            element = value.type.sequence_type.elem_type if value.type.HasField("sequence_type") else None
            element_type = element.tensor_type.elem_type if element is not None else 0
            infos[value.name] = ValueInfo(value.name, element_type)
            continue
        shape = None
        if tensor_type.HasField("shape"):
            shape = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in tensor_type.shape.dim
            )
        infos[value.name] = ValueInfo(value.name, tensor_type.elem_type, shape)
    for initializer in graph.initializer:
        infos[initializer.name] = ValueInfo(initializer.name, initializer.data_type, tuple(initializer.dims))
    return infos


def _prepare_graph(
    graph: onnx.GraphProto,
    table: OperatorTable,
    opsets: dict[str, int],
    outer_value_info: Mapping[str, ValueInfo],
    problems: list[tuple[str, str, int, str]],
    outer_constants: Mapping[str, np.ndarray],
    detached: Mapping[str, np.ndarray] | None = None,
) -> PreparedGraph:
    value_info = {**outer_value_info, **_value_infos(graph)}
    initializer_names = {i.name for i in graph.initializer}
    constants: dict[str, np.ndarray] = {
        i.name: weights.initializer_array(i, detached or {}) for i in graph.initializer
    }
    for sparse in graph.sparse_initializer:
        constants[sparse.values.name] = sparse_to_dense(sparse)
        initializer_names.add(sparse.values.name)
    state = training.state_inputs(graph) & set(constants)
    trainable = {name for name, array in constants.items() if np.issubdtype(array.dtype, np.floating)} - state
    visible_constants = {**outer_constants, **constants}
    steps: list[Step] = []
    subgraphs: dict[tuple[int, str], PreparedGraph] = {}
    for node in topological_order(graph):
        resolved = _resolve(node, len(steps), table, opsets, value_info, visible_constants, problems)
        if resolved is None:
            continue
        step, graph_attributes = resolved
        for attribute_name, subgraph in graph_attributes.items():
            subgraphs[(len(steps), attribute_name)] = _prepare_graph(
                subgraph, table, opsets, value_info, problems, visible_constants
            )
        problems.extend(_step_problems(step, table))
        if _foldable(node, step.context.domain, graph_attributes, visible_constants, trainable | state):
            folded = _fold(node, step.context.opset, visible_constants)
            if folded is not None:
                for output_name, array in zip(node.output, folded, strict=False):
                    if output_name:
                        constants[output_name] = array
                        visible_constants[output_name] = array
                continue
        steps.append(step)
    return PreparedGraph(
        graph=graph,
        steps=steps,
        input_names=[i.name for i in graph.input if i.name not in initializer_names],
        output_names=[o.name for o in graph.output],
        constants=constants,
        trainable=trainable,
        value_info=value_info,
        subgraphs=subgraphs,
        state=state,
    )


def _resolve(
    node: onnx.NodeProto,
    index: int,
    table: OperatorTable,
    opsets: dict[str, int],
    value_info: dict[str, ValueInfo],
    constants: Mapping[str, np.ndarray],
    problems: list[tuple[str, str, int, str]],
) -> tuple[Step, dict[str, onnx.GraphProto]] | None:
    """A node's handler, parsed attributes and context, and its graph attributes; None (the problem
    noted) when no handler takes it."""
    domain = "" if node.domain == "ai.onnx" else node.domain
    opset = opsets.get(domain, 1)
    name = node.name or f"{node.op_type}_{index}"
    if domain not in opsets and domain != "":
        problems.append((domain, node.op_type, opset, name))
        return None
    handler = table.lookup(domain, node.op_type, opset)
    if handler is None:
        problems.append((domain, node.op_type, opset, name))
        return None
    try:
        attributes, graph_attributes = _parse_attributes(node, domain, opset, handler)
    except _Unsupported as reason:
        problems.append((domain, node.op_type, opset, f"{name}: {reason}"))
        return None
    _track_elements(node, opset, value_info, constants)
    _reshaped_dims(node, value_info, constants)
    context = NodeContext(
        name=name,
        op_type=node.op_type,
        domain=domain,
        opset=opset,
        input_names=list(node.input),
        output_names=list(node.output),
        inputs=[value_info.get(i) if i else None for i in node.input],
        outputs=[value_info.get(o) for o in node.output],
    )
    return Step(node, handler, attributes, context), graph_attributes


def _step_problems(step: Step, table: OperatorTable) -> list[tuple[str, str, int, str]]:
    """Input element types the framework lacks, and what the handler's own check says."""
    context, node = step.context, step.node
    where = (context.domain, node.op_type, context.opset)
    problems = []
    exempt = (context.domain, node.op_type) in table.exempt_operators
    for index, info in enumerate(context.inputs):
        if info is not None and info.element_type in table.unsupported_element_types and not exempt:
            type_name = onnx.TensorProto.DataType.Name(info.element_type)
            problems.append((*where, f"{context.name}: input {node.input[index]!r} of type {type_name}"))
    if step.handler.check is not None:
        reason = step.handler.check(step.attributes, context)
        if reason:
            problems.append((*where, f"{context.name}: {reason}"))
    return problems


class _Unsupported(Exception):
    pass


# Past this many elements a tensor is data, not a shape being computed.
SHAPE_ELEMENT_LIMIT = 64


def _track_elements(
    node: onnx.NodeProto, opset: int, value_info: dict[str, ValueInfo], constants: Mapping[str, np.ndarray]
) -> None:
    """Follow partly-known shapes through Shape/Slice/Gather/Concat/Unsqueeze/Squeeze/Cast chains:
    a Resize to `x.shape[:2] + (16, 16)` with a dynamic batch then knows its sizes are (batch, C, 16, 16).

    onnx's own data propagation does this internally but keeps the values to itself; the outputs'
    elements land on their ValueInfo (`elements`) for handlers that need build-time values.
    """
    if node.domain not in ("", "ai.onnx") or len(node.output) != 1 or not node.output[0]:
        return

    def elements(name: str) -> np.ndarray | None:
        if name in constants:
            array = constants[name]
            if array.dtype.kind in "iu" and array.size <= SHAPE_ELEMENT_LIMIT:
                return np.asarray(array.tolist(), dtype=object).reshape(array.shape)
            return None
        info = value_info.get(name)
        return None if info is None else info.elements

    def constant_ints(position: int, default=None):
        if position >= len(node.input) or not node.input[position]:
            return default
        array = constants.get(node.input[position])
        return None if array is None else [int(v) for v in np.asarray(array).reshape(-1)]

    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    try:
        result = _moved_elements(node, opset, attributes, elements, constant_ints, value_info, constants)
        if node.op_type in _COMPUTED_ELEMENT_OPS:
            result = _computed_elements(node.op_type, elements(node.input[0]), elements(node.input[1]))
        result = None if result is None else np.asarray(result, dtype=object)  # np.take gives 0-d as a scalar
    except Exception:  # anything unexpected: the element values are simply unknown
        result = None
    if result is None or result.size > SHAPE_ELEMENT_LIMIT:
        return
    name = node.output[0]
    info = value_info.get(name)
    if info is None:
        info = value_info[name] = ValueInfo(name, onnx.TensorProto.INT64, tuple(result.shape))
    info.elements = result


def _reshaped_dims(node: onnx.NodeProto, value_info: dict[str, ValueInfo], constants) -> None:
    """Give a Reshape's output the dims its target implies in the input's symbols. Shape inference
    names a -1's dim afresh (unk__3), so three reshapes of one batch look like three batches and a
    target computed from them (tf2onnx's einsum) stays unknown; semantics/shapes.py resolves it."""
    if node.op_type != "Reshape" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
        return
    data, out = value_info.get(node.input[0]), value_info.get(node.output[0])
    if data is None or out is None or out.shape is None or data.dims() is None:
        return
    if node.input[1] in constants:
        target = [int(v) for v in np.asarray(constants[node.input[1]]).reshape(-1)]
    else:
        shape = value_info.get(node.input[1])
        target = None if shape is None or shape.elements is None else list(shape.elements.reshape(-1))
    static = shapes.static_target(data.dims(), target)
    if static is None or len(static) != len(out.shape):
        return
    computed = shapes.reshaped_dims(data.dims(), static) or [None] * len(static)
    # Each output dim is the target's own entry (a size, a symbol), or what a -1 leaves.
    dims = [
        t if isinstance(t, (str, shapes.Monomial)) or t > 0 else s if s > 0 else c
        for t, s, c in zip(target, static, computed, strict=True)
    ]
    for fresh, known in zip(out.shape, dims, strict=True):
        if not (isinstance(fresh, str) and fresh.startswith("unk__")) or known is None:
            continue
        # onnx's fresh symbols (unk__N) name one unknown each: every value sized by it has this dim.
        for info in value_info.values():
            if info.shape is not None and fresh in info.shape:
                info.shape = tuple(known if d == fresh else d for d in info.shape)


_COMPUTED_ELEMENT_OPS = frozenset(
    {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Add", "Sub", "Mul", "Div"}
)


def _moved_elements(node, opset, attributes, elements, constant_ints, value_info, constants):
    """Elements through the ops that move, pick or count them (Shape, Concat, Gather, Slice, ...)."""
    op, inputs = node.op_type, list(node.input)
    result = None
    if op == "Shape":
        info = value_info.get(inputs[0])
        dims = info.dims() if info is not None else None
        if dims is not None:
            start, end = attributes.get("start", 0), attributes.get("end", None)
            result = np.asarray(list(dims[start:end]), dtype=object)
    elif op in ("Identity", "Cast", "Squeeze", "Unsqueeze", "Reshape", "Flatten"):
        source = elements(inputs[0])
        out = value_info.get(node.output[0])
        if source is not None and op in ("Identity", "Cast"):
            result = source
        elif source is not None and out is not None and out.shape is not None:
            if all(isinstance(d, int) for d in out.shape):
                result = source.reshape(out.shape)
    elif op == "Concat":
        parts = [elements(name) for name in inputs]
        if parts and all(p is not None for p in parts):
            result = np.concatenate(
                [p.reshape(-1) if p.ndim == 0 else p for p in parts], axis=attributes["axis"]
            )
    elif op == "Gather":
        data = elements(inputs[0])
        indices = constants.get(inputs[1]) if len(inputs) > 1 else None
        if data is not None and data.ndim == 1 and indices is not None and attributes.get("axis", 0) == 0:
            result = np.take(data, np.asarray(indices, np.int64))
    elif op == "Slice":
        data = elements(inputs[0])
        if opset < 10:
            starts, ends = attributes.get("starts"), attributes.get("ends")
            axes, steps = attributes.get("axes", [0]), [1]
        else:
            starts, ends = constant_ints(1), constant_ints(2)
            axes, steps = constant_ints(3, [0]), constant_ints(4, [1])
        if data is not None and data.ndim == 1 and None not in (starts, ends, axes, steps):
            if len(starts) == 1 and axes in ([0], [-1]):
                result = data[slice(starts[0], ends[0], steps[0])]
    elif op == "ReduceProd" and len(inputs) == 1 and attributes.get("keepdims", 1):
        # tf2onnx's einsum: ReduceProd(Gather(Shape(x), batch axes)) is a Reshape target's batch.
        data = elements(inputs[0])
        if data is not None and data.ndim == 1:
            total = shapes.product(list(data))
            result = None if total is None else np.asarray([total], dtype=object)
    elif op in ("Max", "Min") and len(inputs) == 2:
        left, right = elements(inputs[0]), elements(inputs[1])
        if left is not None and right is not None and left.shape == right.shape:
            pick = max if op == "Max" else min
            result = np.asarray(
                [
                    a if a == b else pick(a, b) if isinstance(a, int) and isinstance(b, int) else None
                    for a, b in zip(left.reshape(-1), right.reshape(-1), strict=True)
                ],
                dtype=object,
            ).reshape(left.shape)
            if any(v is None for v in result.reshape(-1)):
                result = None
    elif op == "Size":
        info = value_info.get(inputs[0])
        if info is not None and info.shape is not None and all(isinstance(d, int) for d in info.shape):
            result = np.asarray(int(np.prod(info.shape, dtype=np.int64)), dtype=object)
    return result


def _computed_elements(op: str, left, right):
    """Elements through integer comparisons and arithmetic (exact on ints, see _element_arithmetic)."""
    if left is None or right is None:
        return None
    if op in ("Add", "Sub", "Mul", "Div"):
        pairs = np.broadcast_arrays(left, right)
        return np.frompyfunc(lambda a, b: _element_arithmetic(op, a, b), 2, 1)(*pairs)
    left, right = np.broadcast_arrays(left, right)
    if not all(isinstance(v, int) for v in [*left.reshape(-1), *right.reshape(-1)]):
        return None
    compare = {
        "Equal": np.equal,
        "Less": np.less,
        "Greater": np.greater,
        "LessOrEqual": np.less_equal,
        "GreaterOrEqual": np.greater_equal,
    }[op]
    return np.asarray(compare(left.astype(np.int64), right.astype(np.int64)).tolist(), dtype=object)


def _element_arithmetic(op: str, a, b):
    """One element of shape arithmetic: exact on ints, symbols through identities (x*1, x+0), else None."""
    if isinstance(a, int) and isinstance(b, int):
        if op == "Div":
            return int(a / b) if b else None  # ONNX integer Div truncates toward zero
        return {"Add": a + b, "Sub": a - b, "Mul": a * b}[op]
    if (op in ("Mul", "Div") and b == 1) or (op in ("Add", "Sub") and b == 0):
        return a
    if (op == "Mul" and a == 1) or (op == "Add" and a == 0):
        return b
    return None


def _parse_attributes(
    node: onnx.NodeProto, domain: str, opset: int, handler: Handler
) -> tuple[dict[str, Any], dict[str, onnx.GraphProto]]:
    """Node attributes as Python values over the schema's defaults; graphs kept apart for the walker."""
    values: dict[str, Any] = {}
    graphs: dict[str, onnx.GraphProto] = {}
    schema = _schema(node.op_type, opset, domain)
    if schema is not None:
        for attribute_name, attribute in schema.attributes.items():
            default = attribute.default_value
            if (
                default is not None
                and default.type != onnx.AttributeProto.UNDEFINED
                and handler.accepts(attribute_name)
            ):
                values[attribute_name] = _attribute_value(default)
    for attribute in node.attribute:
        if attribute.ref_attr_name:
            raise _Unsupported(f"attribute {attribute.name!r} refers to a function attribute")
        if not handler.accepts(attribute.name):
            raise _Unsupported(f"attribute {attribute.name!r} is not supported")
        if attribute.type == onnx.AttributeProto.GRAPH:
            graphs[attribute.name] = attribute.g
            values[attribute.name] = attribute.g
        elif attribute.type == onnx.AttributeProto.GRAPHS:
            raise _Unsupported(f"attribute {attribute.name!r} holds a list of graphs")
        else:
            values[attribute.name] = _attribute_value(attribute)
    return values, graphs


def _attribute_value(attribute: onnx.AttributeProto) -> Any:
    value = helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    if isinstance(value, list) and value and isinstance(value[0], onnx.TensorProto):
        return [numpy_helper.to_array(v) for v in value]
    return value


def _schema(op_type: str, opset: int, domain: str):
    try:
        return onnx.defs.get_schema(op_type, opset, domain)
    except Exception:  # operators of custom domains have no schema: no defaults to add
        return None


def topological_order(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Nodes in an order where producers come first; ONNX requires it, but some exporters do not comply."""
    produced_by = {output: index for index, node in enumerate(graph.node) for output in node.output if output}
    order: list[onnx.NodeProto] = []
    state = [0] * len(graph.node)  # 0 new, 1 visiting, 2 done
    for start in range(len(graph.node)):
        stack = [(start, False)]
        while stack:
            index, expanded = stack.pop()
            if expanded:
                if state[index] != 2:
                    state[index] = 2
                    order.append(graph.node[index])
                continue
            if state[index]:
                continue
            state[index] = 1
            stack.append((index, True))
            for name in _node_dependencies(graph.node[index]):
                producer = produced_by.get(name)
                if producer is not None and state[producer] == 0:
                    stack.append((producer, False))
    return order


def _node_dependencies(node: onnx.NodeProto) -> list[str]:
    """Inputs of a node, plus outer-scope names its subgraphs read (they must be computed first)."""
    names = [name for name in node.input if name]
    for attribute in node.attribute:
        for subgraph in (
            [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)
        ):
            names.extend(outer_names(subgraph))
    return names


def outer_names(graph: onnx.GraphProto) -> set[str]:
    local = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    used: set[str] = set()
    for node in graph.node:
        local.update(node.output)
    for node in graph.node:
        used.update(name for name in node.input if name)
        used.update(_node_dependencies(node))
    return used - local


def _foldable(
    node: onnx.NodeProto,
    domain: str,
    graph_attributes: Mapping[str, Any],
    constants: Mapping[str, np.ndarray],
    trainable: set[str],
) -> bool:
    if domain != "" or graph_attributes or node.op_type in NONDETERMINISTIC_OPS:
        return False
    inputs = [name for name in node.input if name]
    # Computations on trainable parameters stay in the graph, so gradients reach the parameters.
    if any(name in trainable for name in inputs):
        return False
    if node.op_type == "Constant":
        return True
    if not all(name in constants for name in inputs):
        return False
    return sum(int(np.prod(constants[name].shape)) for name in inputs) <= FOLD_ELEMENT_LIMIT


def _fold(node: onnx.NodeProto, opset: int, constants: Mapping[str, np.ndarray]) -> list[np.ndarray] | None:
    """Evaluate a node whose inputs are all constants with onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    inputs = [name for name in node.input if name]
    try:
        graph = helper.make_graph(
            [node],
            "fold",
            [
                helper.make_tensor_value_info(
                    name, helper.np_dtype_to_tensor_dtype(constants[name].dtype), None
                )
                for name in dict.fromkeys(inputs)
            ],
            [
                helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
                for name in node.output
                if name
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        outputs = ReferenceEvaluator(model).run(
            None, {name: constants[name] for name in dict.fromkeys(inputs)}
        )
    except Exception:  # a node the evaluator cannot fold is simply built and run like the rest
        return None
    if any(value is None or isinstance(value, list) for value in outputs):
        return None  # sequences and optionals stay in the graph: constants are tensors
    return [np.asarray(value) for value in outputs]


def _unique(problems: list[tuple[str, str, int, str]]) -> list[tuple[str, str, int, str]]:
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------- walking a prepared graph


def gradient_forward(step: Step, index: int, top: PreparedGraph) -> PreparedGraph:
    """The steps before a Gradient node that compute its y from its xs and zs, as a graph: each
    table's Gradient re-runs it under its framework's autodiff (the builders pass it as `forward`)."""
    sources = [*step.attributes["xs"], *step.attributes.get("zs", [])]
    needed, chosen = {step.attributes["y"]}, []
    for position in range(index - 1, -1, -1):
        candidate = top.steps[position]
        if any(name in needed for name in candidate.node.output):
            chosen.append(position)
            needed.update(name for name in candidate.node.input if name and name not in sources)
    chosen.reverse()
    renumber = {old: new for new, old in enumerate(chosen)}
    nodes = [top.steps[position].node for position in chosen]
    # Everything else the slice reads (graph inputs, constants) comes from the enclosing graph.
    inputs = [onnx.helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None) for name in sources]
    graph_proto = onnx.helper.make_graph(nodes, f"{step.context.name}_forward", inputs, [])
    return dataclasses.replace(
        top,
        graph=graph_proto,
        steps=[top.steps[position] for position in chosen],
        input_names=sources,
        output_names=[step.attributes["y"]],
        constants={},
        subgraphs={(renumber[i], a): g for (i, a), g in top.subgraphs.items() if i in renumber},
    )


def bind_constants(graph: PreparedGraph, binder: ConstantBinder) -> dict[str, Any]:
    """Framework values for a graph's constants: parameters for float initializers, the rest buffers."""
    return {
        name: binder.constant(array, name, trainable=name in graph.trainable)
        for name, array in graph.constants.items()
    }


def run_graph(
    graph: PreparedGraph,
    inputs: Mapping[str, Any],
    binder: ConstantBinder,
    outer: Mapping[str, Any] | None = None,
    constants: Mapping[str, Any] | None = None,
    observe: Callable[[Step, tuple], None] | None = None,
    scope: Callable[[Step], Any] | None = None,
) -> list[Any]:
    """Run each step's handler on framework values; returns the graph outputs in order.

    `constants` are the bound framework values of graph.constants (bound on the fly when None);
    `outer` holds the enclosing graph's values for subgraphs; `observe` sees every step's outputs;
    `scope(step)` is a context manager entered around each handler call (e.g. tf.name_scope).
    """
    environment: dict[str, Any] = dict(outer or {})
    environment.update(constants if constants is not None else bind_constants(graph, binder))
    environment.update(inputs)
    with progress.steps("building nodes", len(graph.steps) if outer is None else 0) as advance:
        _walk(graph, environment, binder, observe, scope, advance)
    missing = [name for name in graph.output_names if name not in environment]
    if missing:
        raise ImporterRunError(f"graph output(s) {', '.join(missing)} were never computed")
    return [environment[name] for name in graph.output_names]


def _walk(graph, environment, binder, observe, scope, advance) -> None:
    refine = getattr(binder, "refine", None)
    for index, step in enumerate(graph.steps):
        arguments = [environment[name] if name else None for name in step.node.input]
        keywords = dict(step.attributes)
        for (step_index, attribute_name), subgraph in graph.subgraphs.items():
            if step_index == index:
                keywords[attribute_name] = Subgraph(subgraph, binder, environment, scope)
        if step.handler.wants_context:
            keywords["context"] = step.context
        try:
            with scope(step) if scope is not None else contextlib.nullcontext():
                result = step.handler.function(*arguments, **keywords)
        except ImporterRunError:
            raise
        except Exception as error:
            raise ImporterRunError(
                f'node "{step.context.name}" ({step.node.op_type}, opset {step.context.opset}): '
                f"{type(error).__name__}: {first_line(error)}"
            ) from error
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        if refine is not None:
            infos = step.context.outputs
            outputs = tuple(
                refine(value, infos[position]) if position < len(infos) and infos[position] else value
                for position, value in enumerate(outputs)
            )
        for name, value in zip(step.node.output, outputs, strict=False):
            if name:
                environment[name] = value
        if observe is not None:
            observe(step, tuple(outputs))
        advance()


class ImporterRunError(InputError):
    """A handler failed on real values: names the node so the user can find it in the graph."""


def python_name(name: str, taken: set[str] | None = None) -> str:
    """An identifier derived from an ONNX name (for attributes, parameters, generated code)."""
    cleaned = "".join(c if c.isalnum() else "_" for c in name).strip("_") or "value"
    if cleaned[0].isdigit():
        cleaned = f"v_{cleaned}"
    if taken is not None:
        candidate, counter = cleaned, 1
        while candidate in taken:
            counter += 1
            candidate = f"{cleaned}_{counter}"
        taken.add(candidate)
        return candidate
    return cleaned
