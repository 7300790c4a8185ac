"""Names for a model's nested outputs: a ModelOutput, dict, tuple or any nesting of them.

Every framework flattens outputs its own way (torch's pytree keeps dict order, tf.nest sorts keys);
naming each leaf by its path lets the ONNX graph, the runners and parity agree by name, not position.
"""

from __future__ import annotations

from typing import Any

# A top-level single tensor is "output"; a top-level tuple gives "output_0", "output_1", ...
SINGLE_OUTPUT = "output"


def named_leaves(result: Any, sort_keys: bool = False) -> list[tuple[str, Any]]:
    """(path name, leaf) in flattening order; None leaves (a ModelOutput's unset fields) are dropped.

    Dict keys name their values (`last_hidden_state`), sequence items their index; nested paths
    join with "." (`hidden_states.0`). `sort_keys` flattens dicts in sorted key order, as tf.nest does.
    """
    if not isinstance(result, (dict, tuple, list)):
        return [] if result is None else [(SINGLE_OUTPUT, result)]
    leaves: list[tuple[str, Any]] = []
    _walk(result, None, leaves, sort_keys)
    if not isinstance(result, dict):
        leaves = [(f"output_{name}", leaf) for name, leaf in leaves]
    return leaves


def _walk(value: Any, path: str | None, leaves: list, sort_keys: bool) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        keys = sorted(value) if sort_keys else list(value)
        items = [(str(key), value[key]) for key in keys]
    elif isinstance(value, (tuple, list)):
        items = [(str(index), item) for index, item in enumerate(value)]
    else:
        leaves.append((path if path is not None else SINGLE_OUTPUT, value))
        return
    for key, item in items:
        _walk(item, key if path is None else f"{path}.{key}", leaves, sort_keys)


def leaves(result: Any, sort_keys: bool = False) -> list[Any]:
    """The leaves of `result` in flattening order, None dropped."""
    return [leaf for _, leaf in named_leaves(result, sort_keys)]
