"""RNN, LSTM and GRU: the input projection for all steps in one matmul, then a tf.while_loop (or,
for a short sequence of known length, the steps unrolled); the recurrence is transposed once per call."""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers.semantics import rnn as semantics
from toolkit.importers.tensorflow.ops import register

# Sequences up to this long, when their length is known while building, run unrolled.
UNROLLED_STEPS = 32


def _activation(name, alpha, beta):
    if name == "relu":
        return tf.nn.relu
    if name == "tanh":
        return tf.tanh
    if name == "sigmoid":
        return tf.sigmoid
    if name == "affine":
        return lambda x: alpha * x + beta
    if name == "leakyrelu":
        return lambda x: tf.where(x >= 0, x, alpha * x)
    if name == "thresholdedrelu":
        return lambda x: tf.where(x > alpha, x, tf.zeros_like(x))
    if name == "scaledtanh":
        return lambda x: alpha * tf.tanh(beta * x)
    if name == "hardsigmoid":
        return lambda x: tf.clip_by_value(alpha * x + beta, 0, 1)
    if name == "elu":
        return lambda x: tf.where(x > 0, x, alpha * (tf.exp(x) - 1))
    if name == "softsign":
        return tf.nn.softsign
    return tf.nn.softplus


def _activations(op_type, names, alphas, betas, directions):
    return [
        [_activation(*gate) for gate in gates]
        for gates in semantics.activations(op_type, names, alphas, betas, directions)
    ]


def _run(
    op_type,
    cell,
    x,
    w,
    r,
    b,
    sequence_lens,
    initial_states,
    direction,
    layout_attribute,
    hidden_size,
    context,
):
    if layout_attribute:
        x = tf.transpose(x, [1, 0, 2])
        initial_states = [None if s is None else tf.transpose(s, [1, 0, 2]) for s in initial_states]
    directions = 2 if direction == "bidirectional" else 1
    sequence_length, batch = tf.shape(x)[0], tf.shape(x)[1]
    hidden = hidden_size or w.shape[1] // {"RNN": 1, "GRU": 3, "LSTM": 4}[op_type]
    outputs, finals = [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1
        sequence = x
        if reverse:
            sequence = (
                tf.reverse(x, [0])
                if sequence_lens is None
                else tf.reverse_sequence(x, sequence_lens, seq_axis=0, batch_axis=1)
            )
        # One matmul for every step's input projection.
        projected = tf.einsum("tbi,gi->tbg", sequence, w[d])
        if b is not None:
            gates = w.shape[1]
            projected = projected + b[d][:gates] + b[d][gates:]
        states = [tf.zeros(tf.stack([batch, hidden]), x.dtype) if s is None else s[d] for s in initial_states]
        mask = None
        if sequence_lens is not None:
            mask = tf.range(sequence_length)[:, None] < tf.cast(sequence_lens, tf.int32)[None, :]
        step_cell = cell(d, tf.transpose(r[d]), None if b is None else b[d])
        steps = x.shape[0]
        if steps is not None and steps <= UNROLLED_STEPS:
            y, final_states = _unrolled(step_cell, projected, states, mask, steps)
            outputs.append(_in_time_order(y, reverse, sequence_lens))
            finals.append(final_states)
            continue
        array = tf.TensorArray(x.dtype, size=sequence_length)

        def body(t, array, *states, step_cell=step_cell, projected=projected, mask=mask):
            new_states = step_cell(projected[t], list(states))
            if mask is not None:
                keep = mask[t][:, None]
                new_states = [tf.where(keep, n, s) for n, s in zip(new_states, states, strict=True)]
                output = tf.where(keep, new_states[0], tf.zeros_like(new_states[0]))
            else:
                output = new_states[0]
            return (t + 1, array.write(t, output), *new_states)

        # A state's batch is X's: an initial_h of static batch 1 beside an X whose batch is known
        # only at run time (1 then) must not pin the loop state's shape to batch 1.
        invariants = [
            state.shape.most_specific_compatible_shape(tf.TensorShape([projected.shape[1], state.shape[-1]]))
            if state.shape.rank == 2
            else tf.TensorShape(None)
            for state in states
        ]
        final = tf.while_loop(
            lambda t, *_: t < sequence_length,
            body,
            (tf.constant(0), array, *states),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape(None), *invariants),
        )
        y = final[1].stack()
        outputs.append(_in_time_order(y, reverse, sequence_lens))
        finals.append(final[2:])
    y = tf.stack(outputs, axis=1)  # [seq, directions, batch, hidden]
    last = [tf.stack([f[i] for f in finals]) for i in range(len(initial_states))]
    if layout_attribute:
        y = tf.transpose(y, [2, 0, 1, 3])
        last = [tf.transpose(s, [1, 0, 2]) for s in last]
    return (y, *last)[: context.num_outputs]


def _unrolled(step_cell, projected, states, mask, steps):
    """The loop written out step by step: a short sequence known while building pays no
    tf.while_loop overhead per step (Keras's own LSTM layer on TF runs at that speed), and XLA
    sees one straight graph."""
    outputs = []
    for t in range(steps):
        new_states = step_cell(projected[t], list(states))
        if mask is not None:
            keep = mask[t][:, None]
            new_states = [tf.where(keep, n, s) for n, s in zip(new_states, states, strict=True)]
            outputs.append(tf.where(keep, new_states[0], tf.zeros_like(new_states[0])))
        else:
            outputs.append(new_states[0])
        states = new_states
    return tf.stack(outputs), states


def _clip(value, clip):
    return value if clip is None else tf.clip_by_value(value, -clip, clip)


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
    hidden_size=None,
    layout=0,
    context,
):
    directions = 2 if direction == "bidirectional" else 1
    functions = _activations("RNN", activations, activation_alpha, activation_beta, directions)

    def cell(d, recurrence, bias):
        (f,) = functions[d]
        return lambda projected, states: [f(_clip(projected + tf.matmul(states[0], recurrence), clip))]

    return _run("RNN", cell, x, w, r, b, sequence_lens, [initial_h], direction, layout, hidden_size, context)


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
    hidden_size=None,
    layout=0,
    linear_before_reset=0,
    context,
):
    directions = 2 if direction == "bidirectional" else 1
    functions = _activations("GRU", activations, activation_alpha, activation_beta, directions)
    hidden = hidden_size or w.shape[1] // 3
    projection_bias = b
    if b is not None and linear_before_reset:
        # ONNX GRU, linear_before_reset=1: the h gate's recurrent bias sits inside r ⊙ (H·Rh + Rbh).
        projection_bias = tf.concat([b[:, : 5 * hidden], tf.zeros_like(b[:, :hidden])], 1)

    def cell(d, recurrence, bias):
        f, g = functions[d]
        r_zr, r_h = recurrence[:, : 2 * hidden], recurrence[:, 2 * hidden :]
        rb_h = b[d][5 * hidden :] if (b is not None and linear_before_reset) else None

        def step(projected, states):
            (h,) = states
            x_zr, x_h = projected[:, : 2 * hidden], projected[:, 2 * hidden :]
            zr = f(_clip(x_zr + tf.matmul(h, r_zr), clip))
            z, r_gate = zr[:, :hidden], zr[:, hidden:]
            if linear_before_reset:
                recurrent = tf.matmul(h, r_h)
                if rb_h is not None:
                    recurrent = recurrent + rb_h
                candidate = g(_clip(x_h + r_gate * recurrent, clip))
            else:
                candidate = g(_clip(x_h + tf.matmul(r_gate * h, r_h), clip))
            return [(1 - z) * candidate + z * h]

        return step

    return _run(
        "GRU",
        cell,
        x,
        w,
        r,
        projection_bias,
        sequence_lens,
        [initial_h],
        direction,
        layout,
        hidden_size,
        context,
    )


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
    hidden_size=None,
    input_forget=0,
    layout=0,
    context,
):
    directions = 2 if direction == "bidirectional" else 1
    functions = _activations("LSTM", activations, activation_alpha, activation_beta, directions)
    hidden = hidden_size or w.shape[1] // 4

    def cell(d, recurrence, bias):
        f, g, h_activation = functions[d]
        peephole = None if p is None else p[d]

        def step(projected, states):
            h, c = states
            raw = projected + tf.matmul(h, recurrence)
            # ONNX LSTM gate order: input, output, forget, cell.
            i, o, forget, candidate = (raw[:, k * hidden : (k + 1) * hidden] for k in range(4))
            if peephole is not None:
                i = i + peephole[:hidden] * c
                forget = forget + peephole[2 * hidden :] * c
            i, forget, candidate = f(_clip(i, clip)), f(_clip(forget, clip)), g(_clip(candidate, clip))
            if input_forget:
                forget = 1 - i
            c_new = forget * c + i * candidate
            if peephole is not None:
                o = o + peephole[hidden : 2 * hidden] * c_new
            return [f(_clip(o, clip)) * h_activation(c_new), c_new]

        return step

    return _run(
        "LSTM",
        cell,
        x,
        w,
        r,
        b,
        sequence_lens,
        [initial_h, initial_c],
        direction,
        layout,
        hidden_size,
        context,
    )


def _in_time_order(y, reverse: bool, sequence_lens):
    """A reverse direction's outputs, computed over the reversed sequence, back in time order
    (each row's own length when the lengths vary)."""
    if not reverse:
        return y
    if sequence_lens is None:
        return tf.reverse(y, [0])
    return tf.reverse_sequence(y, sequence_lens, seq_axis=0, batch_axis=1)
