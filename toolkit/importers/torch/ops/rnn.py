"""RNN, GRU and LSTM: every direction, sequence_lens, layout, clip and activation choices.

One cell function per operator, run step by step over time on real tensors (the builder records
the node as one submodule, so the time dimension may vary between calls); gradients flow to W/R/B.
Reverse directions reverse each sequence within its own length, run forwards, and reverse back.
Nodes that torch's fused kernels compute exactly (default activations, no clip, ...) run on those
instead: see rnn_fused.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from toolkit.importers.semantics import rnn as semantics
from toolkit.importers.torch.ops import rnn_fused
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, dims, is_proxy

_ACTIVATIONS = {
    "relu": lambda x, a, b: torch.relu(x),
    "tanh": lambda x, a, b: torch.tanh(x),
    "sigmoid": lambda x, a, b: torch.sigmoid(x),
    "affine": lambda x, a, b: a * x + b,
    "leakyrelu": lambda x, a, b: F.leaky_relu(x, a),
    "thresholdedrelu": lambda x, a, b: torch.where(x > a, x, torch.zeros_like(x)),
    "scaledtanh": lambda x, a, b: a * torch.tanh(b * x),
    "hardsigmoid": lambda x, a, b: torch.clamp(a * x + b, 0, 1),
    "elu": lambda x, a, b: F.elu(x, a),
    "softsign": lambda x, a, b: F.softsign(x),
    "softplus": lambda x, a, b: F.softplus(x),
}


def _activations(op_type, names, alphas, betas, directions):
    return [
        [lambda x, f=_ACTIVATIONS[key], a=alpha, b=beta: f(x, a, b) for key, alpha, beta in gates]
        for gates in semantics.activations(op_type, names, alphas, betas, directions)
    ]


def _reverse_within(x, lengths, steps):
    """Reverse each batch entry's first `length` steps (x: [seq, batch, features])."""
    time = torch.arange(steps).unsqueeze(1)
    index = torch.where(time < lengths.unsqueeze(0), lengths.unsqueeze(0) - 1 - time, time)
    return torch.gather(x, 0, index.unsqueeze(2).expand_as(x))


def _run(cell, x, states, lengths, clip, reverse, steps):
    """x: [seq, batch, input]; states: list of [batch, hidden]. Returns Y [seq, batch, hidden], states."""
    if reverse:
        x = _reverse_within(x, lengths, steps)
    outputs = []
    for t in range(steps):
        new_states = cell(x[t], states, clip)
        alive = (t < lengths).unsqueeze(1)
        states = [torch.where(alive, new, old) for new, old in zip(new_states, states, strict=True)]
        outputs.append(torch.where(alive, states[0], torch.zeros_like(states[0])))
    y = torch.stack(outputs) if outputs else x.new_zeros((0,) + tuple(states[0].shape))
    if reverse:
        y = _reverse_within(y, lengths, steps)
    return y, states


def _clip(x, clip):
    return x if clip is None else torch.clamp(x, -clip, clip)


def _recurrent(x, w, r, b, sequence_lens, initial_states, *, gates, hidden_size, direction, layout, cell_for):
    # A sequence length known while building unrolls into plain fx nodes; else real tensors.
    steps = dims(x)[1 if layout else 0] if is_proxy(x) else x.shape[1 if layout else 0]
    if steps is None:
        raise NeedsValues("the sequence length varies: recurrences run on real tensors")
    if is_proxy(x):  # unrolled for the declared length: another length is an error, not a cut
        torch._assert(
            x.shape[1 if layout else 0] == steps, f"the sequence length must be {steps}, as declared"
        )
    if layout:
        x = x.transpose(0, 1)
        initial_states = [None if s is None else s.transpose(0, 1) for s in initial_states]
    batch = x.shape[1]
    directions = 2 if direction == "bidirectional" else 1
    if b is None:
        b = x.new_zeros((directions, 2 * gates * hidden_size))
    lengths = (
        torch.full((batch,), steps, dtype=torch.int64)
        if sequence_lens is None
        else sequence_lens.to(torch.int64)
    )
    ys, finals = [], []
    for d in range(directions):
        states = [x.new_zeros((batch, hidden_size)) if s is None else s[d] for s in initial_states]
        reverse = direction == "reverse" or d == 1
        y, states = _run(cell_for(d, w[d], r[d], b[d]), x, states, lengths, None, reverse, steps)
        ys.append(y)
        finals.append(states)
    y = torch.stack(ys, dim=1)  # [seq, directions, batch, hidden]
    last = [torch.stack([f[i] for f in finals]) for i in range(len(initial_states))]
    if layout:
        y = y.permute(2, 0, 1, 3)
        last = [s.transpose(0, 1) for s in last]
    return (y, *last)


@register("RNN", since=7, check=semantics.check)
def rnn(
    x,
    w,
    r,
    b=None,
    sequence_lens=None,
    initial_h=None,
    *,
    activation_alpha=None,
    activation_beta=None,
    activations=None,
    clip=None,
    direction="forward",
    hidden_size,
    layout=0,
    context,
):
    fused = rnn_fused.kernel("RNN", x, sequence_lens, activations=activations, clip=clip, layout=layout)
    if fused is not None:
        return rnn_fused.run(
            fused,
            x,
            w,
            r,
            b,
            [initial_h],
            op_type="RNN",
            hidden_size=hidden_size,
            direction=direction,
            layout=layout,
            context=context,
        )
    directions = 2 if direction == "bidirectional" else 1
    functions = _activations("RNN", activations, activation_alpha, activation_beta, directions)

    def cell_for(d, w, r, b):
        (f,) = functions[d]
        bias = b[:hidden_size] + b[hidden_size:]

        def cell(xt, states, _):
            return [f(_clip(xt @ w.t() + states[0] @ r.t() + bias, clip))]

        return cell

    return _recurrent(
        x,
        w,
        r,
        b,
        sequence_lens,
        [initial_h],
        gates=1,
        hidden_size=hidden_size,
        direction=direction,
        layout=layout,
        cell_for=cell_for,
    )


@register("GRU", since=7, check=semantics.check)
def gru(
    x,
    w,
    r,
    b=None,
    sequence_lens=None,
    initial_h=None,
    *,
    activation_alpha=None,
    activation_beta=None,
    activations=None,
    clip=None,
    direction="forward",
    hidden_size,
    layout=0,
    linear_before_reset=0,
    context,
):
    fused = rnn_fused.kernel(
        "GRU",
        x,
        sequence_lens,
        activations=activations,
        clip=clip,
        layout=layout,
        linear_before_reset=linear_before_reset,
    )
    if fused is not None:
        return rnn_fused.run(
            fused,
            x,
            w,
            r,
            b,
            [initial_h],
            op_type="GRU",
            hidden_size=hidden_size,
            direction=direction,
            layout=layout,
            context=context,
        )
    directions = 2 if direction == "bidirectional" else 1
    functions = _activations("GRU", activations, activation_alpha, activation_beta, directions)
    cell_for = _gru_cells(functions, hidden_size, clip, linear_before_reset)
    return _recurrent(
        x,
        w,
        r,
        b,
        sequence_lens,
        [initial_h],
        gates=3,
        hidden_size=hidden_size,
        direction=direction,
        layout=layout,
        cell_for=cell_for,
    )


def _gru_cells(functions, h, clip, linear_before_reset):
    """cell_for(direction, W, R, B) of a GRU: gates in ONNX's z, r, h order."""

    def cell_for(d, w, r, b):
        f, g = functions[d]
        wb, rb = b[: 3 * h], b[3 * h :]

        def cell(xt, states, _):
            (previous,) = states
            gates_x = xt @ w.t() + wb  # z, r, h order
            gates_h = previous @ r[: 2 * h].t() + rb[: 2 * h]
            z = f(_clip(gates_x[:, :h] + gates_h[:, :h], clip))
            reset = f(_clip(gates_x[:, h : 2 * h] + gates_h[:, h:], clip))
            if linear_before_reset:
                candidate = gates_x[:, 2 * h :] + reset * (previous @ r[2 * h :].t() + rb[2 * h :])
            else:
                candidate = gates_x[:, 2 * h :] + (reset * previous) @ r[2 * h :].t() + rb[2 * h :]
            hidden = g(_clip(candidate, clip))
            return [(1 - z) * hidden + z * previous]

        return cell

    return cell_for


@register("LSTM", since=7, check=semantics.check)
def lstm(
    x,
    w,
    r,
    b=None,
    sequence_lens=None,
    initial_h=None,
    initial_c=None,
    p=None,
    *,
    activation_alpha=None,
    activation_beta=None,
    activations=None,
    clip=None,
    direction="forward",
    hidden_size,
    input_forget=0,
    layout=0,
    context,
):
    fused = rnn_fused.kernel(
        "LSTM",
        x,
        sequence_lens,
        p,
        activations=activations,
        clip=clip,
        layout=layout,
        input_forget=input_forget,
    )
    if fused is not None:
        return rnn_fused.run(
            fused,
            x,
            w,
            r,
            b,
            [initial_h, initial_c],
            op_type="LSTM",
            hidden_size=hidden_size,
            direction=direction,
            layout=layout,
            context=context,
        )
    directions = 2 if direction == "bidirectional" else 1
    functions = _activations("LSTM", activations, activation_alpha, activation_beta, directions)
    cell_for = _lstm_cells(functions, hidden_size, p, clip, input_forget)
    return _recurrent(
        x,
        w,
        r,
        b,
        sequence_lens,
        [initial_h, initial_c],
        gates=4,
        hidden_size=hidden_size,
        direction=direction,
        layout=layout,
        cell_for=cell_for,
    )


def _lstm_cells(functions, h, p, clip, input_forget):
    """cell_for(direction, W, R, B) of an LSTM: gates in ONNX's i, o, f, c order, peepholes P."""

    def cell_for(d, w, r, b):
        f, g, activation_h = functions[d]
        bias = b[: 4 * h] + b[4 * h :]
        peephole = p[d] if p is not None else None

        def cell(xt, states, _):
            hidden, cell_state = states
            gates = xt @ w.t() + hidden @ r.t() + bias  # i, o, f, c order
            i, o, forget, c = gates[:, :h], gates[:, h : 2 * h], gates[:, 2 * h : 3 * h], gates[:, 3 * h :]
            if peephole is not None:
                i = i + peephole[:h] * cell_state
                forget = forget + peephole[2 * h :] * cell_state
            i, forget = f(_clip(i, clip)), f(_clip(forget, clip))
            if input_forget:
                forget = 1 - i
            new_cell = forget * cell_state + i * g(_clip(c, clip))
            if peephole is not None:
                o = o + peephole[h : 2 * h] * new_cell
            o = f(_clip(o, clip))
            return [o * activation_h(new_cell), new_cell]

        return cell

    return cell_for
