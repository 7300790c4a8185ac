"""The source layer an ONNX node came from, named as a person would type it: `encoder.layer.6.attention.self.query (Linear)`.

torch.onnx (dynamo) records on every node the full path of each enclosing module
(`pkg.torch.onnx.name_scopes`: `['', 'm', 'm.encoder', ...]`) and their classes
(`pkg.torch.onnx.class_hierarchy`); the innermost entry before the op is the layer. A wrapper whose
only job is to hold the user's model (`self.m = model`) adds a prefix that names nothing: it is
stripped when every scoped node of the graph sits under that one child.

tf2onnx keeps TensorFlow's op names (`classifier_1/block_1/norm_1/moments/mean`), whose scopes carry
tracing suffixes (`_1`) that are not the layers' names; the Keras exporter therefore records each
node's layer path and class (`toolkit.keras_layer`, `toolkit.keras_class`) from the model itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any

import onnx

TORCH_SCOPES = "pkg.torch.onnx.name_scopes"
TORCH_CLASSES = "pkg.torch.onnx.class_hierarchy"
KERAS_LAYER = "toolkit.keras_layer"
KERAS_CLASS = "toolkit.keras_class"
# torch.export's placeholder for nodes it inserted itself (shape asserts, sym_size): no module owns them.
_NO_MODULE = "_empty_nn_module_stack_from_metadata_hook"
_TRACING_SUFFIX = re.compile(r"_\d+$")
_QUOTED = re.compile("'([^']*)'|\"([^\"]*)\"")


def torch_module_chain(node: onnx.NodeProto) -> list[tuple[str, str]] | None:
    """[(module path, class name)] from the root module to the innermost one; None when no module owns the node."""
    scopes = _literal(_metadata(node, TORCH_SCOPES))
    if not scopes or len(scopes) < 2 or scopes[0] == _NO_MODULE:
        return None
    classes = _literal(_metadata(node, TORCH_CLASSES)) or []
    # Both lists end with the op itself (`linear`, `aten.linear.default`); the entries before it are modules.
    classes = [str(c).rsplit(".", 1)[-1] for c in classes[: len(scopes) - 1]]
    classes += [""] * (len(scopes) - 1 - len(classes))
    return [(str(path), layer_class) for path, layer_class in zip(scopes[:-1], classes, strict=True)]


def torch_module_scope(node: onnx.NodeProto) -> tuple[str, str] | None:
    """(innermost module path, its class name) torch.onnx recorded for a node; None when no module owns it."""
    chain = torch_module_chain(node)
    return chain[-1] if chain else None


def wrapper_prefix(nodes: Iterable[onnx.NodeProto]) -> str:
    """The attribute path of wrappers that only hold the user's model (`m.`), or "" when every prefix names something.

    A prefix is stripped when every module-owned node lies under it and some lie deeper, so a wrapper
    that computes something of its own, or a model that is one layer, keeps its full names.
    """
    paths = []
    for node in nodes:  # the scopes alone: this runs on every node of the graph
        scopes = _literal(_metadata(node, TORCH_SCOPES))
        if scopes and len(scopes) >= 2 and scopes[0] != _NO_MODULE:
            paths.append(scopes[-2])
    prefix = ""
    while paths:
        heads = {path.split(".", 1)[0] for path in paths}
        if len(heads) != 1 or "" in heads:
            break
        head = heads.pop()
        if all(path == head for path in paths):
            break
        prefix += head + "."
        paths = [path[len(head) + 1 :] for path in paths]
    return prefix


def source_layer(node: onnx.NodeProto, prefix: str = "") -> str:
    """The layer a node belongs to, `path (Class)`: torch module or Keras layer, else the TF scope, else ""."""
    chain = layer_chain(node, prefix)
    return chain[-1] if chain else ""


def layer_chain(node: onnx.NodeProto, prefix: str = "") -> list[str]:
    """The enclosing layers of a node, outermost first (`encoder (BertEncoder)`, ..., the layer itself).

    The root module (and wrappers named by `prefix`) are left out: every node lies inside them.
    """
    keras_path = _metadata(node, KERAS_LAYER)
    if keras_path:
        parts = keras_path.split("/")
        classes = _metadata(node, KERAS_CLASS).split("/")
        classes = [""] * (len(parts) - len(classes)) + classes
        return [_named("/".join(parts[: i + 1]), classes[i]) for i in range(len(parts))]
    if _metadata(node, TORCH_SCOPES):
        chain = torch_module_chain(node)
        if chain is None:
            return []
        named = []
        for path, layer_class in chain:
            if prefix and (path + ".").startswith(prefix):
                path = path[len(prefix) :]
            elif not path or prefix.startswith(path + "."):
                continue
            if path:
                named.append(_named(path, layer_class))
        return named or [_named("(root)", chain[-1][1])]
    if "/" in node.name:  # tf2onnx keeps TensorFlow op names: model/dense_1/MatMul
        return [node.name.rsplit("/", 1)[0]]
    return []


# --------------------------------------------------------------------------- Keras


def annotate_keras_layers(model: onnx.ModelProto, keras_model: Any) -> onnx.ModelProto:
    """Record on each tf2onnx node the Keras layer it came from: the deepest layer its name's scopes reach."""
    outer = {keras_model.name, keras_model.name + "_1"}
    found: dict[tuple[str, ...], tuple[str, str] | None] = {}
    for node in model.graph.node:
        scopes = tuple(node.name.split("/")[:-1])
        if scopes and scopes[0] in outer:
            scopes = scopes[1:]
        if scopes not in found:
            found[scopes] = keras_layer_of(keras_model, scopes)
        if found[scopes] is not None:
            _set_metadata(node, KERAS_LAYER, found[scopes][0])
            _set_metadata(node, KERAS_CLASS, found[scopes][1])
    return model


def keras_layer_of(keras_model: Any, scopes: Iterable[str]) -> tuple[str, str] | None:
    """(layer path "block/norm", classes "Functional/LayerNormalization") that TF name scopes ("block_1", "norm_1") lead to, or None."""
    layer, path, classes, match = keras_model, [], [], None
    for scope in scopes:
        children = _sublayers(layer)
        untraced = _TRACING_SUFFIX.sub("", scope)  # a traced call scopes its layers as `name_1`
        child = next((c for c in children if c.name == scope), None) or next(
            (c for c in children if c.name == untraced), None
        )
        if child is None:
            break
        path.append(child.name)
        classes.append(type(child).__name__)
        match = ("/".join(path), "/".join(classes))
        layer = child
    return match


def _sublayers(layer) -> list:
    """A layer's direct children: a model's `layers`, else the sublayers Keras tracks on it."""
    children = getattr(layer, "layers", None)
    if children is None:
        flatten = getattr(layer, "_flatten_layers", None)
        children = list(flatten(include_self=False, recursive=False)) if flatten else []
    return [child for child in children if type(child).__name__ != "InputLayer"]


# --------------------------------------------------------------------------- helpers


def _named(path: str, layer_class: str) -> str:
    return f"{path} ({layer_class})" if layer_class else path


def _literal(text: str) -> list | None:
    """A list of strings written as Python's repr (torch.onnx's metadata), parsed without `ast`: a
    regular expression is ~20x faster, and localisation names every node of the graph."""
    if not text or text[0] != "[" or text[-1] != "]":
        return None
    if "\\" in text:  # escapes: leave them to the real parser
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, list) else None
    return [single or double for single, double in _QUOTED.findall(text)]


def _metadata(node: onnx.NodeProto, key: str) -> str:
    return next((entry.value for entry in node.metadata_props if entry.key == key), "")


def _set_metadata(node: onnx.NodeProto, key: str, value: str) -> None:
    for entry in node.metadata_props:
        if entry.key == key:
            entry.value = value
            return
    entry = node.metadata_props.add()
    entry.key, entry.value = key, value
