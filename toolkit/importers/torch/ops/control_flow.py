"""If, Loop, Scan and SequenceMap: subgraphs arrive as `core.Subgraph` callables.

An If whose condition is a constant is resolved while building (the branch is inlined), and a Loop
whose trip count is a constant is unrolled into plain torch calls (readable .py, exportable .pt2:
tf2onnx's while loops of Keras RNNs); any other control flow runs on real tensors inside one
`OnnxNode` submodule (see builder), a Python loop around the body: still differentiable, and trip
counts may change between calls.
"""

from __future__ import annotations

import numpy as np
import torch

from toolkit.importers import core
from toolkit.importers.torch.dtypes import TORCH_DTYPES
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, is_proxy, maybe_known

# A Loop of a constant trip count unrolls up to this many iterations; a longer one runs on real tensors.
MAX_UNROLLED_ITERATIONS = 64


def _concrete(*values):
    if any(is_proxy(v) for v in values):
        raise NeedsValues("control flow runs on real tensors")


@register("If", since=1)
def if_(cond, *, then_branch, else_branch):
    value = maybe_known(cond)
    if value is None:
        raise NeedsValues("If's condition is known only at run time")
    chosen = then_branch if bool(value.reshape(-1)[0]) else else_branch
    return tuple(chosen())


def _empty_scan_output(info):
    dtype = TORCH_DTYPES.get(info.element_type, torch.float32) if info is not None else torch.float32
    shape = (
        [0] + [d if isinstance(d, int) else 0 for d in (info.shape or [0])[1:]]
        if info is not None and info.shape
        else [0]
    )
    return torch.zeros(shape, dtype=dtype)


@register("Loop", since=1)
def loop(M=None, cond=None, *v_initial, body, context):  # noqa: N803
    if any(is_proxy(v) for v in (M, cond, *v_initial)):
        return _unrolled_loop(M, cond, v_initial, body, context)
    trip_count = None if M is None else int(M.reshape(-1)[0])
    keep_going = True if cond is None else bool(cond.reshape(-1)[0])
    values = list(v_initial)
    scanned: list[list[torch.Tensor]] = []
    iteration = 0
    while keep_going and (trip_count is None or iteration < trip_count):
        outputs = body(torch.tensor(iteration, dtype=torch.int64), torch.tensor(keep_going), *values)
        keep_going = bool(outputs[0].reshape(-1)[0])
        values = list(outputs[1 : 1 + len(values)])
        scanned.append(list(outputs[1 + len(values) :]))
        iteration += 1
    return _loop_outputs(values, scanned, context)


def _loop_outputs(values, scanned, context):
    """The final loop-carried values, then each scan output stacked over the iterations."""
    count = context.num_outputs - len(values)
    finals = []
    for index in range(count):
        items = [step[index] for step in scanned]
        if items and isinstance(items[0], list):  # a sequence-typed loop output
            finals.append(items[-1])
        elif items:
            finals.append(torch.stack(items))
        else:
            finals.append(_empty_scan_output(context.outputs[len(values) + index]))
    return tuple(values) + tuple(finals)


def _unrolled_loop(M, cond, v_initial, body, context):  # noqa: N803
    """While building: the body traced once per iteration, when the trip count is a constant.

    ONNX Loop runs iteration i only while the condition the previous one returned holds. The unrolled
    form runs all M, so a condition known only at run time is asserted there (torch._assert_async,
    which torch.export keeps): a loop that would stop early fails loudly instead of running on.
    """
    trip_count = maybe_known(M)
    if trip_count is None:
        raise NeedsValues("a Loop whose trip count is known only at run time")
    count = int(np.asarray(trip_count).reshape(-1)[0])
    if count > MAX_UNROLLED_ITERATIONS:
        raise NeedsValues(f"a Loop of {count} iterations runs on real tensors")
    constants = core.bind_constants(body.graph, body.binder)  # once: every iteration shares them
    values, scanned = list(v_initial), []
    keep_going = cond
    if keep_going is None:
        keep_going = body.binder.constant(np.asarray(True), f"{context.name}_condition", trainable=False)
    for iteration in range(count):
        condition = maybe_known(keep_going)
        if condition is None:
            torch._assert_async(
                keep_going.reshape(()),
                f"Loop {context.name}: the condition turned false before the trip count {count}",
            )
        elif not bool(np.asarray(condition).reshape(-1)[0]):
            break
        counter = body.binder.constant(
            np.asarray(iteration, np.int64), f"{context.name}_iteration_{iteration}", trainable=False
        )
        inputs = dict(zip(body.input_names, [counter, keep_going, *values], strict=True))
        outputs = core.run_graph(body.graph, inputs, body.binder, body.outer, constants, scope=body.scope)
        keep_going = outputs[0]
        values = list(outputs[1 : 1 + len(values)])
        scanned.append(list(outputs[1 + len(values) :]))
    return _loop_outputs(values, scanned, context)


@register("Scan", since=9)
def scan(
    *inputs,
    body,
    num_scan_inputs,
    scan_input_axes=None,
    scan_input_directions=None,
    scan_output_axes=None,
    scan_output_directions=None,
):
    _concrete(*inputs)
    state_count = len(inputs) - num_scan_inputs
    states = list(inputs[:state_count])
    sequences = list(inputs[state_count:])
    input_axes = scan_input_axes or [0] * num_scan_inputs
    input_directions = scan_input_directions or [0] * num_scan_inputs
    input_axes = [a + s.dim() if a < 0 else a for a, s in zip(input_axes, sequences, strict=True)]
    length = sequences[0].shape[input_axes[0]]
    scanned: list[list[torch.Tensor]] = []
    for step in range(length):
        slices = [
            s.select(axis, length - 1 - step if direction else step)
            for s, axis, direction in zip(sequences, input_axes, input_directions, strict=True)
        ]
        outputs = body(*states, *slices)
        states = list(outputs[:state_count])
        scanned.append(list(outputs[state_count:]))
    count = len(scanned[0]) if scanned else 0
    output_axes = scan_output_axes or [0] * count
    output_directions = scan_output_directions or [0] * count
    finals = []
    for index in range(count):
        items = [step[index] for step in scanned]
        if output_directions[index]:
            items = items[::-1]
        axis = output_axes[index]
        axis = axis + items[0].dim() + 1 if axis < 0 else axis
        finals.append(torch.stack(items, dim=axis))
    return tuple(states) + tuple(finals)


@register("Scan", since=8)
def scan_8(sequence_lens, *inputs, body, num_scan_inputs, directions=None):
    """Scan before opset 9: every input has a leading batch axis (scanned along axis 1), and each
    batch entry runs its own scan over its first sequence_lens[b] steps (all of them without)."""
    _concrete(sequence_lens, *inputs)
    state_count = len(inputs) - num_scan_inputs
    batch = inputs[0].shape[0]
    lengths = [inputs[-1].shape[1]] * batch if sequence_lens is None else [int(n) for n in sequence_lens]
    results = []
    for entry, length in enumerate(lengths):
        states = [state[entry] for state in inputs[:state_count]]
        sequences = [sequence[entry, :length] for sequence in inputs[state_count:]]
        results.append(
            scan(
                *states,
                *sequences,
                body=body,
                num_scan_inputs=num_scan_inputs,
                scan_input_directions=directions,
            )
        )
    longest = max(lengths, default=0)
    finals = []
    for index in range(len(results[0]) if results else 0):
        items = [result[index] for result in results]
        if index >= state_count:  # scan outputs: steps past an entry's length are zeros
            items = [
                torch.nn.functional.pad(i, [0, 0] * (i.dim() - 1) + [0, longest - i.shape[0]]) for i in items
            ]
        finals.append(torch.stack(items))
    return tuple(finals)


@register("SequenceMap", since=17)
def sequence_map(input_sequence, *additional_inputs, body, context):
    _concrete(input_sequence, *additional_inputs)
    results: list[list[torch.Tensor]] = [[] for _ in range(context.num_outputs)]
    for index in range(len(input_sequence)):
        extra = [a[index] if isinstance(a, list) else a for a in additional_inputs]
        for slot, value in enumerate(body(input_sequence[index], *extra)):
            results[slot].append(value)
    return tuple(results)


@register("Gradient", since=1, domain="ai.onnx.preview.training")
def gradient(*inputs, xs, y, zs=(), forward=None):
    """dy/dx for each named x by torch autograd. `forward` is the slice of the graph from xs (and
    zs) to y, which the builder supplies: the node itself names its y, it does not take it as input."""
    if forward is None or any(is_proxy(v) for v in inputs):
        raise NeedsValues("Gradient re-runs the graph from its xs on real tensors")
    with torch.enable_grad():
        leaves = [x.detach().requires_grad_(True) for x in inputs[: len(xs)]]
        (value,) = forward(*leaves, *inputs[len(xs) :])
        grads = torch.autograd.grad(value, leaves, grad_outputs=torch.ones_like(value), allow_unused=True)
    return tuple(
        torch.zeros_like(leaf) if g is None else g.detach() for leaf, g in zip(leaves, grads, strict=True)
    )
