"""PreparedModel → torch.fx.GraphModule.

The prepared graph is walked once by `core.run_graph` with `torch.fx.Proxy` values, so each
handler's torch calls are recorded as fx nodes; those nodes are renamed after the ONNX node that
made them (and carry `meta["onnx_node"]`). Float initializers become `nn.Parameter`s, every other
constant a buffer (BatchNormalization's running statistics included), both named after their
initializer. The module starts in eval mode; BatchNormalization and Dropout follow `train()`. A handler that needs concrete values (a
shape known only at run time, a loop) is recorded instead as one submodule, `OnnxNode`, that runs
the handler on real tensors; its subgraph constants are registered on it, so it stays trainable.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.fx

from toolkit.importers import core, training, weights
from toolkit.importers.torch.dtypes import to_torch
from toolkit.importers.torch.fold_patterns import eliminate_dead_code
from toolkit.importers.torch.ops.values import NeedsValues, is_proxy, maybe_known


class _Tracer(torch.fx.proxy.GraphAppendingTracer):
    """Appends to our graph; tensors met as arguments become buffers of the root module."""

    def __init__(self, graph: torch.fx.Graph, root: torch.nn.Module, taken: set[str]):
        super().__init__(graph)
        self.root = root
        self.taken = taken

    def create_arg(self, a):
        if isinstance(a, np.ndarray):
            a = to_torch(a)
        if isinstance(a, np.generic):
            return a.item()
        if isinstance(a, torch.Tensor) and not isinstance(a, torch.nn.Parameter):
            name = core.python_name("constant", self.taken)
            self.root.register_buffer(name, a)
            return self.create_node("get_attr", name, (), {}, name=name)
        return super().create_arg(a)


class FxBinder:
    """Constants as parameters/buffers on the root module, seen in the graph through get_attr."""

    def __init__(self, tracer: _Tracer):
        self.tracer = tracer
        self.attributes: dict[str, str] = {}  # ONNX initializer name -> attribute on the module
        self.shared: set[int] = set()  # ids of the arrays whose memory a tensor adopted

    def constant(self, array: np.ndarray, name: str, trainable: bool):
        # A detached weight (weights.py: memory-mapped copy-on-write, or copied out of the proto
        # once) becomes the tensor itself: one copy of the model, not two.
        shared = weights.shareable(array) and id(array) not in self.shared
        tensor = torch.from_numpy(array) if shared else to_torch(array)
        if shared:
            self.shared.add(id(array))  # one array under two names (a folded Identity) is copied once
        attribute = core.python_name(name, self.tracer.taken)
        self.attributes.setdefault(name, attribute)
        if trainable:
            self.tracer.root.register_parameter(attribute, torch.nn.Parameter(tensor))
        else:
            self.tracer.root.register_buffer(attribute, tensor)
        proxy = self.tracer.create_proxy("get_attr", attribute, (), {}, name=attribute)
        proxy.node.meta["onnx_constant"] = array
        proxy.node.meta["onnx_value"] = core.ValueInfo(
            name, _element_type(array), tuple(int(d) for d in array.shape)
        )
        proxy.node.meta["onnx_name"] = name
        return proxy

    def refine(self, value, info):
        """Steps of a subgraph traced while building (an unrolled Loop body) get what ONNX shape
        inference knows of their outputs, as the top graph's steps do in `_recording`."""
        if is_proxy(value) and value.node.op in ("call_function", "call_method"):
            value.node.meta.setdefault("onnx_value", info)
        return value


class EagerBinder:
    """For subgraphs run on real tensors inside an OnnxNode: constants it registered at build."""

    def __init__(self, module: OnnxNode):
        self.module = module

    def constant(self, array: np.ndarray, name: str, trainable: bool):
        attribute = self.module.constant_names.get(name)
        if attribute is not None:
            return getattr(self.module, attribute)
        return to_torch(array)


class OnnxNode(torch.nn.Module):
    """One ONNX node run by its handler on real tensors (loops, shapes only known at run time)."""

    def __init__(self, step: core.Step, subgraphs: dict, outer_names):
        super().__init__()
        self.op_type = step.node.op_type
        self.onnx_name = step.context.name
        self.function = step.handler.function
        self.attributes = {k: v for k, v in step.attributes.items() if k not in subgraphs}
        self.subgraphs = subgraphs  # attribute -> PreparedGraph
        self.outer_names = list(outer_names)
        self.context = step.context if step.handler.wants_context else None
        self.num_outputs = len(step.node.output)
        self.constant_names: dict[str, str] = {}
        taken: set[str] = set()
        for graph in subgraphs.values():
            self._register_constants(graph, taken)

    def _register_constants(self, graph: core.PreparedGraph, taken: set[str]) -> None:
        for name, array in graph.constants.items():
            if name in self.constant_names:
                continue
            attribute = core.python_name(name, taken)
            tensor = to_torch(array)
            if name in graph.trainable:
                self.register_parameter(attribute, torch.nn.Parameter(tensor))
            else:
                self.register_buffer(attribute, tensor)
            self.constant_names[name] = attribute
        for nested in graph.subgraphs.values():
            self._register_constants(nested, taken)

    def forward(self, *values):
        arguments = list(values[: len(values) - len(self.outer_names)])
        outer = dict(zip(self.outer_names, values[len(arguments) :], strict=True))
        keywords = dict(self.attributes)
        binder = EagerBinder(self)
        for attribute, graph in self.subgraphs.items():
            keywords[attribute] = core.Subgraph(graph, binder, outer)
        if self.context is not None:
            keywords["context"] = self.context
        result = self.function(*arguments, **keywords)
        if self.num_outputs == 1:
            return result[0] if isinstance(result, tuple) else result
        result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        return result + (None,) * (self.num_outputs - len(result))


def _element_type(array: np.ndarray) -> int:
    try:
        return core.helper.np_dtype_to_tensor_dtype(array.dtype)
    except (KeyError, TypeError, ValueError):
        return 0


def build(prepared: core.PreparedModel, class_name: str = "OnnxModule") -> torch.fx.GraphModule:
    root = torch.nn.Module()
    graph = torch.fx.Graph()
    taken: set[str] = set()
    tracer = _Tracer(graph, root, taken)
    binder = FxBinder(tracer)
    top = prepared.graph
    inputs = {}
    for name in top.input_names:
        proxy = tracer.create_proxy("placeholder", core.python_name(name, taken), (), {})
        proxy.node.meta["onnx_value"] = top.value_info.get(name)
        proxy.node.meta["onnx_name"] = name
        inputs[name] = proxy
    constants = core.bind_constants(top, binder)
    environment = {**constants, **inputs}  # every value by ONNX name, for the Gradient operator

    def observe(step: core.Step, outputs: tuple) -> None:
        environment.update(
            (name, value) for name, value in zip(step.node.output, outputs, strict=False) if name
        )

    steps = [
        dataclasses.replace(
            step,
            handler=dataclasses.replace(
                step.handler, function=_recording(step, index, top, tracer, taken, environment)
            ),
        )
        for index, step in enumerate(top.steps)
    ]
    # BatchNormalization and Dropout read the module's own `training` flag when they run.
    training_flag = tracer.create_proxy("get_attr", "training", (), {}, name="training")
    with training.building(training_flag, prepared.model):
        outputs = core.run_graph(
            dataclasses.replace(top, steps=steps), inputs, binder, constants=constants, observe=observe
        )
    result = outputs[0] if len(outputs) == 1 else tuple(outputs)
    graph.output(tracer.create_arg(result))
    eliminate_dead_code(graph)
    _drop_unused_attributes(root, graph)
    module = torch.fx.GraphModule(root, graph, class_name=class_name)
    module.onnx_input_names = list(top.input_names)
    module.onnx_output_names = list(top.output_names)
    kept = {*dict(module.named_parameters()), *dict(module.named_buffers())}
    # For toolkit.parameter_map: which parameter or buffer holds each ONNX initializer.
    module.onnx_initializer_attributes = {n: a for n, a in binder.attributes.items() if a in kept}
    module.onnx_metadata = {entry.key: entry.value for entry in prepared.model.metadata_props}
    # Like a loaded checkpoint: inference until the user calls train().
    return module.eval()


def _recording(
    step: core.Step, index: int, top: core.PreparedGraph, tracer: _Tracer, taken: set[str], environment: dict
):
    """The step's handler, run on proxies, falling back to an OnnxNode; names the nodes it made."""
    graph = tracer.graph
    subgraphs = {attribute: g for (i, attribute), g in top.subgraphs.items() if i == index}
    base = core.python_name(step.context.name)

    def record(*args, **keywords):
        cursor = graph._root.prev
        if step.node.op_type == "Gradient":
            forward = core.gradient_forward(step, index, top)
            keywords["forward"] = core.Subgraph(forward, None, environment)
            subgraphs["forward"] = forward
        known = _known_arguments(step, args, subgraphs, tracer.root, top)
        if known is not None:
            result = _run_on_known(step, known, keywords)
            if result is not None:
                return result
        try:
            if subgraphs and step.node.op_type != "Loop" and not _static_condition(step, args):
                raise NeedsValues("control flow runs on real tensors")
            result = step.handler.function(*args, **keywords)
            _check_recordable(result)
        except (NeedsValues, torch.fx.proxy.TraceError, core.ImporterRunError) as error:
            # The proxies could not answer (a rank, a value, a Python bool of a tensor), here or in
            # an inlined subgraph: record the node as one eager submodule. Any other error is the
            # handler's, raised at import time.
            if not _needs_values(error):
                raise
            for node in reversed(_nodes_after(graph, cursor)):
                if not node.users:
                    graph.erase_node(node)
            result = _eager_node(step, args, keywords, subgraphs, tracer, taken)
        for node in _nodes_after(graph, cursor):
            if node.op not in ("get_attr", "placeholder"):
                node._rename(base)
                node.meta["onnx_node"] = step.context.name
                node.meta["onnx_op_type"] = step.node.op_type
        outputs = result if isinstance(result, (tuple, list)) and step.context.num_outputs > 1 else (result,)
        for value, info in zip(outputs, step.context.outputs, strict=False):
            if is_proxy(value) and info is not None and value.node.op != "get_attr":
                if value.node.op != "placeholder":
                    value.node.meta["onnx_value"] = info
        return result

    return record


# Read the module's training flag (see training.py): computed when called, never at build time.
_TRAINING_OPS = frozenset({"BatchNormalization", "Dropout"})


def _known_arguments(step, args, subgraphs, root: torch.nn.Module, top: core.PreparedGraph):
    """The arguments as real tensors when every one is known while building, else None.

    Shapes of static inputs come out of the Shape handler as real tensors, but a constant they meet
    (an initializer, a function body's `One1D`) is a buffer read through a proxy, so `Div(Shape(x),
    Two1D)` was recorded, and the Expand or Slice it sizes ran on real tensors at call time, where
    torch.export cannot read it. Run such a node now instead, as the core folds initializers.
    """
    if subgraphs or step.node.op_type in core.NONDETERMINISTIC_OPS or step.node.op_type in _TRAINING_OPS:
        return None
    known, read_buffer, size = [], False, 0
    for value in args:
        if is_proxy(value):
            node = value.node
            if (
                node.op != "get_attr"
                or "onnx_constant" not in node.meta
                or node.meta.get("onnx_name") in top.state
            ):
                return None
            tensor = getattr(root, node.target)
            if isinstance(tensor, torch.nn.Parameter):  # computations on parameters stay, for gradients
                return None
            known.append(tensor)
            read_buffer = True
        elif value is None or isinstance(value, torch.Tensor):
            known.append(value)
        else:
            return None  # a sequence (a Python list) or anything else: built as usual
        size += value.numel() if isinstance(value, torch.Tensor) else 0
    if not read_buffer or size > core.FOLD_ELEMENT_LIMIT:
        return None
    return known


def _run_on_known(step: core.Step, known: list, keywords: dict):
    """The handler's tensors for known arguments, or None to build the node as usual."""
    try:
        result = step.handler.function(*known, **keywords)
    except Exception:  # a handler that cannot run on these now runs on proxies, as before
        return None
    values = result if isinstance(result, (tuple, list)) else (result,)
    if not all(
        value is None or (isinstance(value, torch.Tensor) and not is_proxy(value)) for value in values
    ):
        return None
    return result


def _static_condition(step: core.Step, args) -> bool:
    """An If whose condition is a constant is resolved while building (its branch is inlined)."""
    return step.node.op_type == "If" and args and maybe_known(args[0]) is not None


def _needs_values(error: BaseException) -> bool:
    """The error is a proxy that could not answer, possibly wrapped by an inlined subgraph's walk."""
    while isinstance(error, core.ImporterRunError) and error.__cause__ is not None:
        error = error.__cause__
    return isinstance(error, (NeedsValues, torch.fx.proxy.TraceError))


def _check_recordable(result) -> None:
    values = result if isinstance(result, (tuple, list)) else (result,)
    for value in values:
        if isinstance(value, (tuple, list)):
            _check_recordable(value)
        elif not (value is None or is_proxy(value) or isinstance(value, torch.Tensor)):
            raise NeedsValues(f"handler returned {type(value).__name__}, not a tensor")


def _nodes_after(graph: torch.fx.Graph, cursor: torch.fx.Node) -> list[torch.fx.Node]:
    nodes = []
    node = cursor.next
    while node is not graph._root:
        nodes.append(node)
        node = node.next
    return nodes


def _eager_node(step, args, keywords, subgraphs, tracer: _Tracer, taken: set[str]):
    outer_names: list[str] = []
    outer_values = []
    for attribute in subgraphs:
        subgraph = keywords[attribute]
        for name in sorted(core.outer_names(subgraph.graph.graph)):
            if name in subgraph.outer and name not in outer_names:
                outer_names.append(name)
                outer_values.append(subgraph.outer[name])
    module = OnnxNode(step, subgraphs, outer_names)
    attribute = core.python_name(step.context.name, taken)
    tracer.root.add_module(attribute, module)
    proxy = tracer.create_proxy("call_module", attribute, tuple([*args, *outer_values]), {})
    if step.context.num_outputs == 1:
        return proxy
    return tuple(proxy[i] for i in range(step.context.num_outputs))


def _drop_unused_attributes(root: torch.nn.Module, graph: torch.fx.Graph) -> None:
    used = {node.target for node in graph.nodes if node.op in ("get_attr", "call_module")}
    for name in [n for n, _ in root.named_parameters(recurse=False) if n not in used]:
        delattr(root, name)
    for name in [n for n, _ in root.named_buffers(recurse=False) if n not in used]:
        delattr(root, name)
    for name in [n for n, _ in root.named_children() if n not in used]:
        delattr(root, name)
