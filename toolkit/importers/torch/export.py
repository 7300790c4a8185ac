"""Writers for an imported module: a torch.export program (.pt2), or readable Python (.py) with a
.safetensors weights file beside it. Both load without the toolkit (torch, and safetensors for .py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import textwrap
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

from toolkit.errors import ExportError, UsageError
from toolkit.importers.torch.dtypes import TORCH_DTYPES, to_numpy
from toolkit.io import atomic_output, first_line

# Size given to a dimension that varies between calls when example inputs are made up.
EXAMPLE_DYNAMIC_SIZE = 2


def save(module: torch.fx.GraphModule, path: str | os.PathLike, example_inputs=None) -> None:
    suffix = Path(path).suffix
    if suffix == ".pt2":
        save_exported_program(module, path, example_inputs)
    elif suffix == ".py":
        save_python(module, path)
    else:
        raise UsageError(f"{path}: choose a .pt2 (torch.export) or .py (generated Python) output")


def example_inputs_for(module: torch.fx.GraphModule) -> tuple[torch.Tensor, ...]:
    """Inputs shaped like the ONNX graph inputs (varying dimensions get EXAMPLE_DYNAMIC_SIZE)."""
    inputs = []
    for node in module.graph.find_nodes(op="placeholder"):
        info = node.meta.get("onnx_value")
        if info is None or info.shape is None:
            raise UsageError(f"graph input {node.name!r} has no known shape: pass example inputs")
        shape = [d if isinstance(d, int) else EXAMPLE_DYNAMIC_SIZE for d in info.shape]
        dtype = TORCH_DTYPES.get(info.element_type, torch.float32)
        values = np.random.default_rng(0).standard_normal(shape)
        inputs.append(
            torch.from_numpy(values).to(dtype) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
        )
    return tuple(inputs)


def _dynamic_shapes(module: torch.fx.GraphModule):
    specs = []
    for node in module.graph.find_nodes(op="placeholder"):
        info = node.meta.get("onnx_value")
        shape = info.shape if info is not None and info.shape is not None else ()
        specs.append(
            {i: torch.export.Dim.AUTO for i, d in enumerate(shape) if not isinstance(d, int)} or None
        )
    return tuple(specs)


def save_exported_program(module: torch.fx.GraphModule, path, example_inputs=None) -> None:
    """torch.export with the ONNX graph's varying dimensions kept dynamic; when torch cannot keep
    them, the example's sizes are fixed, with a warning saying which node stopped it."""
    example = tuple(example_inputs) if example_inputs is not None else example_inputs_for(module)
    strings = [
        node.name
        for node, value in zip(module.graph.find_nodes(op="placeholder"), example, strict=False)
        if isinstance(value, np.ndarray) and value.dtype.kind in "OSU"
    ]
    if strings:
        raise UsageError(
            f"{path}: graph input(s) {', '.join(strings)} hold strings and torch.export takes tensors "
            "only (torch has no string tensors): use the imported module in Python instead"
        )
    example = tuple(torch.as_tensor(e) for e in example)
    dynamic_shapes = _dynamic_shapes(module)
    with _example_values(module, example) as fixed_values:
        try:
            program = torch.export.export(module, example, dynamic_shapes=dynamic_shapes)
            if _fixed_dynamic_axes(program, dynamic_shapes):
                with _recurrences_as_loops():
                    looped = torch.export.export(module, example, dynamic_shapes=dynamic_shapes)
                if not _fixed_dynamic_axes(looped, dynamic_shapes):
                    program = looped
        except Exception as dynamic_error:
            if not any(dynamic_shapes):
                raise _export_error(path, module, dynamic_error) from dynamic_error
            try:
                program = torch.export.export(module, example)
            except Exception as static_error:
                raise _export_error(path, module, static_error) from static_error
            _warn_fixed_shapes(path, module, example, dynamic_shapes, dynamic_error)
    read = dict.fromkeys(
        f'node "{v.node}" input {v.position} = {v.array.tolist()}' for v in fixed_values if v.read
    )
    if read:
        warnings.warn(
            f"{path}: values that decide shapes were fixed to the example's ({'; '.join(read)}): "
            "the program raises when called with others",
            stacklevel=4,
        )
    # Saved through a file object: torch warns about a temporary path that does not end in .pt2.
    with atomic_output(path) as temporary, open(temporary, "wb") as file:
        torch.export.save(program, file)


def _fixed_dynamic_axes(program, dynamic_shapes) -> bool:
    """Whether torch.export fixed an axis it was given as Dim.AUTO (it does so without a word)."""
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    user_inputs = set(program.graph_signature.user_inputs)
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in user_inputs]
    return any(
        is_concrete_int(node.meta["val"].shape[axis])  # a fixed axis can stay a SymInt of a constant
        for node, spec in zip(placeholders, dynamic_shapes, strict=False)
        for axis in spec or ()
    )


@contextlib.contextmanager
def _recurrences_as_loops():
    """torch.gru/torch.lstm (the fused RNN kernels) traced as while_loops: their default
    decomposition steps through the sequence in Python, which Dim.AUTO fixes to the example's
    length (a GRU over a dynamic time axis). torch.onnx's dynamo exporter patches its capture the
    same way. Only where needed: a program with while_loops cannot be trained (no autograd)."""
    try:
        from torch.export._patches import (
            register_gru_while_loop_decomposition,
            register_lstm_while_loop_decomposition,
        )
    except ImportError:  # an older torch: the loop stays Python
        yield
        return
    operators = (torch.ops.aten.gru.input, torch.ops.aten.lstm.input)

    def forget_kernels():
        # The patch swaps py_kernels without dropping the kernel an operator cached on its last call,
        # so it only took in a process's first RNN export (torch/_ops.py OpOverload._dispatch_cache).
        for operator in operators:
            getattr(operator, "_dispatch_cache", {}).clear()

    try:
        with register_gru_while_loop_decomposition(), register_lstm_while_loop_decomposition():
            forget_kernels()
            yield
    finally:
        forget_kernels()  # the patch's own kernels, once it is undone


def _warn_fixed_shapes(path, module, example, dynamic_shapes, dynamic_error) -> None:
    fixed = ", ".join(
        f"{node.name} {tuple(e.shape)}"
        for node, e, spec in zip(
            module.graph.find_nodes(op="placeholder"), example, dynamic_shapes, strict=False
        )
        if spec
    )
    warnings.warn(
        f"{path}: exported with fixed input shapes ({fixed}), so the batch cannot vary: the dynamic "
        f"export failed{_failing_node(module, dynamic_error)}: {first_line(dynamic_error)}",
        stacklevel=5,
    )


# An eager node's inputs that may decide shapes: small 0-d/1-d tensors (sizes, axes, pads, a Range's limits).
EXAMPLE_VALUE_LIMIT = 64


@contextlib.contextmanager
def _example_values(module: torch.fx.GraphModule, example: tuple):
    """While torch.export traces, the small inputs of each eager step (an OnnxNode submodule, or a
    `values.leaf` function: a handler that reads values at run time) carry what they held on
    `example`, so the handler reads them as it does in the GraphModule; values.maybe_known asserts
    them in the program. Yields the tags; the module is as it was afterwards."""
    from toolkit.importers.torch.builder import OnnxNode
    from toolkit.importers.torch.ops.values import EXAMPLE_VALUE, ExampleValue, is_fake

    def eager(node: torch.fx.Node) -> bool:
        if node.op == "call_module":
            return isinstance(module.get_submodule(node.target), OnnxNode)
        return node.op == "call_function" and getattr(node.target, "reads_values", False)

    steps = [node for node in module.graph.nodes if eager(node)]
    recorded: dict[str, list] = {}
    tags: list[ExampleValue] = []

    class Recorder(torch.fx.Interpreter):
        def run_node(self, node):
            if node in steps:
                args, _ = self.fetch_args_kwargs_from_env(node)
                recorded[node.name] = [_small_values(a) for a in args]
            return super().run_node(node)

    def tag(node: torch.fx.Node, args) -> None:
        name = node.meta.get("onnx_node", node.name)
        for position, (value, array) in enumerate(zip(args, recorded.get(node.name, ()), strict=False)):
            if array is not None and isinstance(value, torch.Tensor) and is_fake(value):
                tags.append(ExampleValue(array, name, position))
                setattr(value, EXAMPLE_VALUE, tags[-1])

    def tagging(node: torch.fx.Node, function):
        # A leaf whose body must stay plain torch (it is copied into the .py) names its variant
        # that reads values through values.maybe_known.
        variant = getattr(function, "under_export", function)

        @functools.wraps(function)
        def call(*args, **kwargs):
            tag(node, args)
            return variant(*args, **kwargs)

        return call

    if steps:
        try:
            with torch.no_grad():
                Recorder(module).run(*example)
        except Exception:  # torch.export reports what goes wrong, at its node
            recorded.clear()
    handles, swapped = [], {}
    for node in steps:
        if node.name not in recorded:
            continue
        if node.op == "call_module":
            hook = functools.partial(lambda node, _, args: tag(node, args), node)
            handles.append(module.get_submodule(node.target).register_forward_pre_hook(hook))
        else:
            swapped[node] = node.target
            node.target = tagging(node, node.target)
    if swapped:
        module.recompile()
    try:
        yield tags
    finally:
        for handle in handles:
            handle.remove()
        for node, function in swapped.items():
            node.target = function
        if swapped:
            module.recompile()


def _small_values(value) -> np.ndarray | None:
    if not isinstance(value, torch.Tensor) or value.is_complex():
        return None
    if value.dim() > 1 or value.numel() > EXAMPLE_VALUE_LIMIT:
        return None
    return to_numpy(value.detach()).copy()


def _export_error(path, module: torch.fx.GraphModule, error: Exception) -> ExportError:
    return ExportError(f"{path}: torch.export failed{_failing_node(module, error)}: {first_line(error)}")


def _failing_node(module: torch.fx.GraphModule, error: BaseException) -> str:
    """' at node "name" (OpType)' for the ONNX node torch.export was tracing when `error` came,
    read from fx's Interpreter frames (torch.export runs a GraphModule through one); else ''."""
    nodes = set(module.graph.nodes)
    failing = None
    while error is not None and failing is None:
        for frame, _ in traceback.walk_tb(error.__traceback__):
            candidate = frame.f_locals.get("node")  # the loop variable of Interpreter.run
            if isinstance(candidate, torch.fx.Node) and candidate in nodes:
                failing = candidate
        error = error.__cause__ or error.__context__
    if failing is None:
        return ""
    op_type = failing.meta.get("onnx_op_type")
    return f' at node "{failing.meta.get("onnx_node", failing.name)}"' + (f" ({op_type})" if op_type else "")


def save_python(module: torch.fx.GraphModule, path) -> None:
    """An nn.Module class whose forward is the fx graph's code, plus a .safetensors of its weights."""
    from safetensors.torch import save_file

    eager = [n.target for n in module.graph.nodes if n.op == "call_module"]
    if eager:
        raise UsageError(
            f"{path}: node(s) {', '.join(eager)} run their ONNX handler on real tensors (control flow or "
            "shapes known only at run time) and have no plain-torch form; save as .pt2 instead"
        )
    helpers = _helper_sources(module)
    path = Path(path)
    weights_path = path.with_suffix(".safetensors")
    parameters = [name for name, _ in module.named_parameters()]
    buffers = [name for name, _ in module.named_buffers()]
    tensors = {name: t.detach().contiguous().clone() for name, t in module.state_dict().items()}
    forward = textwrap.indent(module.code.strip(), "    ")
    class_name = type(module).__name__
    source = f'''"""Generated by toolkit from an ONNX model: {class_name}, weights in {weights_path.name}.

Needs only torch and safetensors: `from {path.stem} import {class_name}; model = {class_name}()`.
"""

import os
from math import inf, nan  # noqa: F401  (constants the generated forward may use)

import torch
from torch import device  # noqa: F401
from safetensors.torch import load_file

PARAMETERS = {parameters!r}
BUFFERS = {buffers!r}


{helpers}
class {class_name}(torch.nn.Module):
    def __init__(self, weights=os.path.join(os.path.dirname(os.path.abspath(__file__)), {weights_path.name!r})):
        super().__init__()
        tensors = load_file(weights)
        for name in PARAMETERS:
            self.register_parameter(name, torch.nn.Parameter(tensors[name]))
        for name in BUFFERS:
            self.register_buffer(name, tensors[name])

{forward}
'''
    with atomic_output(weights_path) as temporary:
        save_file(tensors, str(temporary))
    with atomic_output(path) as temporary:
        temporary.write_text(source)


def _helper_sources(module: torch.fx.GraphModule) -> str:
    """Definitions of the toolkit helpers the graph calls (functions recorded as single fx calls,
    e.g. through `values.leaf`), under the names fx's generated code gives them: they use only torch."""
    import inspect

    sources = []
    for name, value in module.graph.python_code("self").globals.items():
        function = getattr(value, "leaf_function", value)
        if not inspect.isfunction(function) or not function.__module__.startswith("toolkit."):
            continue
        source = textwrap.dedent(inspect.getsource(function))
        source = source[source.index("def ") :].replace(f"def {function.__name__}(", f"def {name}(", 1)
        sources.append(source)
    return "\n\n".join(sources) + ("\n\n" if sources else "")
