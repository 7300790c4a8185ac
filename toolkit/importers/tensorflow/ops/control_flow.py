"""Control flow (If, Loop, Scan) as TF control flow, and ONNX sequences and optionals.

In eager execution the bodies run as Python loops (so sequences and changing shapes work);
under tf.function they become tf.cond / tf.while_loop with TensorArrays for scan outputs.
Sequences are Python lists of tensors; an empty optional is None.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.importers import common
from toolkit.importers.tensorflow import layout
from toolkit.importers.tensorflow.ops import maybe_known, register, tf_dtype


def _outputs(branch, *inputs):
    return [layout.to_onnx(value) for value in branch(*inputs)]


def _static_int(value) -> int:
    known = maybe_known(value)
    if known is None:
        raise ValueError("a sequence position must be known when the graph is built")
    return int(known)


def _position(position, length: int):
    """A sequence position as a Python int when known while building, else a non-negative int64 tensor."""
    known = maybe_known(position)
    if known is not None:
        index = int(np.reshape(known, []))
        return index + length if index < 0 else index
    index = tf.reshape(tf.cast(position, tf.int64), [])
    return tf.where(index < 0, index + length, index)


def _pick(index, choices: list):
    """choices[index] for a run-time index: one branch per element (their shapes may differ)."""
    if len(choices) == 1:
        return choices[0]
    return tf.switch_case(tf.cast(index, tf.int32), [lambda value=value: value for value in choices])


@register("If", since=1)
def if_(cond, *, then_branch, else_branch, context):
    condition = tf.reshape(tf.cast(cond, tf.bool), [])
    known = maybe_known(condition)
    tracked = context.inputs[0].elements if context.inputs[0] is not None else None
    if (
        known is None
        and tracked is not None
        and tracked.size == 1
        and isinstance(tracked.item(), (bool, int))
    ):
        known = tracked.item()  # the core's shape tracking decided it (Size(x) == 4, ...)
    if known is not None:
        # Decided while building (a rank or shape test): only that branch is built, as ONNX runs
        # only that one; the other may not even be valid for these shapes.
        return tuple(_outputs(then_branch if bool(known) else else_branch))
    return tuple(tf.cond(condition, lambda: _outputs(then_branch), lambda: _outputs(else_branch)))


@register("Loop", since=1)
def loop(trip_count, cond, *initial, body, context):
    carried_count = len(initial)
    if tf.executing_eagerly():
        return _loop_eager(trip_count, cond, initial, body, context)
    sequences = [isinstance(value, list) for value in initial]
    if any(sequences):
        # With the trip count known while building (SequenceMap's expansion loops over a sequence's
        # length) the loop unrolls and its sequences stay Python lists; otherwise each becomes a
        # TensorArray, which tf.while_loop can carry and which grows at run time (EmbeddingBag).
        count = maybe_known(trip_count) if trip_count is not None else None
        decided = cond is None or maybe_known(cond) is not None
        if count is not None and int(np.reshape(count, [])) <= UNROLL_LIMIT and decided:
            return _loop_eager(trip_count, cond, initial, body, context)
        initial = [
            _as_array(value, _sequence_dtype(value, context.inputs[2 + k], context.outputs[k]))
            if is_sequence
            else value
            for k, (value, is_sequence) in enumerate(zip(initial, sequences, strict=True))
        ]
    maximum = (
        tf.constant(2**62, tf.int64) if trip_count is None else tf.reshape(tf.cast(trip_count, tf.int64), [])
    )
    keep_going = tf.constant(True) if cond is None else tf.reshape(tf.cast(cond, tf.bool), [])
    scan_count = context.num_outputs - carried_count
    arrays = [
        tf.TensorArray(
            _output_dtype(context, carried_count + j), size=0, dynamic_size=True, infer_shape=False
        )
        for j in range(scan_count)
    ]

    def condition(i, going, *state):
        return tf.logical_and(i < maximum, going)

    def step(i, going, *state):
        values, arrays = list(state[:carried_count]), list(state[carried_count:])
        results = _outputs(body, i, going, *values)
        going = tf.reshape(tf.cast(results[0], tf.bool), [])
        values = [
            _as_array(value, initial[k].dtype) if isinstance(value, list) else value
            for k, value in enumerate(results[1 : 1 + carried_count])
        ]
        element_shapes[:] = [value.shape for value in results[1 + carried_count :]]
        arrays = [
            array.write(tf.cast(i, tf.int32), value)
            for array, value in zip(arrays, results[1 + carried_count :], strict=True)
        ]
        return (i + 1, going, *values, *arrays)

    element_shapes: list[tf.TensorShape] = []  # what the traced body writes, for the stacked outputs

    def invariants(tight):
        states = [
            tf.TensorShape(None) if isinstance(value, tf.TensorArray) else _invariant(value, info, tight)
            for value, info in zip(initial, context.outputs, strict=False)
        ]
        # The same nest type as loop_vars.
        return (tf.TensorShape([]), tf.TensorShape([]), *states, *[tf.TensorShape(None)] * scan_count)

    final = _while_loop(
        condition, step, (tf.constant(0, tf.int64), keep_going, *initial, *arrays), invariants
    )
    values, arrays = final[2 : 2 + carried_count], final[2 + carried_count :]
    return (*values, *[_stack(array, shape) for array, shape in zip(arrays, element_shapes, strict=True)])


def _stack(array: tf.TensorArray, element_shape: tf.TensorShape):
    """A TensorArray stacked, with the body's static element shape (infer_shape=False drops it)."""
    stacked = array.stack()
    stacked.set_shape(tf.TensorShape([None]).concatenate(element_shape))
    return stacked


def _invariant(initial, info, tight: bool) -> tf.TensorShape:
    """A loop state's shape across iterations: what ONNX shape inference says of the final value
    (unknown sizes free), when the initial value fits it; otherwise the initial value's own shape
    (`tight`: a body that keeps it keeps its static sizes, such as a scalar counter) or anything."""
    initial_shape = layout.to_onnx(initial).shape
    if info is not None and info.shape is not None:
        shape = tf.TensorShape([d if isinstance(d, int) else None for d in info.shape])
        if initial_shape.is_compatible_with(shape):
            return shape
    return initial_shape if tight else tf.TensorShape(None)


def _while_loop(condition, body, loop_vars, invariants):
    """tf.while_loop with each state's initial shape as its invariant where ONNX shape inference
    is silent; built again with those states free when the body changes their shapes."""
    try:
        return tf.while_loop(condition, body, loop_vars, shape_invariants=invariants(True))
    except ValueError as error:
        if "shape_invariants" not in str(error):
            raise
    return tf.while_loop(condition, body, loop_vars, shape_invariants=invariants(False))


# Past this many iterations a traced Loop carrying a sequence is not unrolled.
UNROLL_LIMIT = 1024


def _as_array(sequence: list, dtype) -> tf.TensorArray:
    """A sequence as tf.while_loop state: a TensorArray whose elements may differ in shape."""
    array = tf.TensorArray(dtype, size=0, dynamic_size=True, infer_shape=False)
    for i, value in enumerate(sequence):
        array = array.write(i, value)
    return array


def _sequence_dtype(sequence: list, *infos):
    """The element dtype of a sequence: its first tensor's, else what the graph declares."""
    if sequence:
        return sequence[0].dtype
    for info in infos:
        if info is not None and info.element_type:
            return tf_dtype(info.element_type)
    raise ValueError("a Loop carries an empty sequence whose element type the graph does not declare")


def _known_loop_value(value):
    known = maybe_known(value)
    if known is None:
        raise ValueError("a Loop carrying a sequence needs its trip count and condition known while building")
    return known


def _output_dtype(context, index):
    info = context.outputs[index]
    if info is None or not info.element_type:
        return tf.float32
    return tf_dtype(info.element_type)


def _loop_eager(trip_count, cond, initial, body, context):
    """The loop as a Python loop: eagerly, or unrolled while tracing when every decision is known."""
    carried_count = len(initial)
    maximum = None if trip_count is None else int(np.reshape(_known_loop_value(trip_count), []))
    going = True if cond is None else bool(np.reshape(_known_loop_value(cond), []))
    values = list(initial)
    scans: list[list] = [[] for _ in range(context.num_outputs - carried_count)]
    i = 0
    while (maximum is None or i < maximum) and going:
        results = _outputs(body, tf.constant(i, tf.int64), tf.constant(going), *values)
        going = bool(np.reshape(_known_loop_value(results[0]), []))
        values = results[1 : 1 + carried_count]
        for collected, value in zip(scans, results[1 + carried_count :], strict=True):
            collected.append(value)
        i += 1
    stacked = []
    for j, collected in enumerate(scans):
        if collected:
            stacked.append(tf.stack(collected))
        else:
            stacked.append(tf.zeros([0], _output_dtype(context, carried_count + j)))
    return (*values, *stacked)


@register("Scan", since=9)
def scan(
    *inputs,
    body,
    num_scan_inputs,
    scan_input_axes=None,
    scan_input_directions=None,
    scan_output_axes=None,
    scan_output_directions=None,
    context,
):
    state_count = len(inputs) - num_scan_inputs
    states, sequences = list(inputs[:state_count]), list(inputs[state_count:])
    input_axes = scan_input_axes or [0] * num_scan_inputs
    input_directions = scan_input_directions or [0] * num_scan_inputs
    sequences = [
        tf.reverse(s, [common.normalize_axis(a, s.shape.rank)]) if d else s
        for s, a, d in zip(sequences, input_axes, input_directions, strict=True)
    ]
    sequences = [
        tf.experimental.numpy.moveaxis(s, common.normalize_axis(a, s.shape.rank), 0)
        for s, a in zip(sequences, input_axes, strict=True)
    ]
    length = tf.shape(sequences[0])[0]
    scan_count = context.num_outputs - state_count
    arrays = [
        tf.TensorArray(_output_dtype(context, state_count + j), size=length, infer_shape=False)
        for j in range(scan_count)
    ]

    def step(i, *state):
        values, arrays = list(state[:state_count]), list(state[state_count:])
        results = _outputs(body, *values, *[s[i] for s in sequences])
        element_shapes[:] = [value.shape for value in results[state_count:]]
        arrays = [array.write(i, value) for array, value in zip(arrays, results[state_count:], strict=True)]
        return (i + 1, *results[:state_count], *arrays)

    element_shapes: list[tf.TensorShape] = []  # what the traced body writes, for the stacked outputs
    final = _while_loop(
        lambda i, *state: i < length,
        step,
        (tf.constant(0), *states, *arrays),
        lambda tight: (
            tf.TensorShape([]),
            *[_invariant(value, context.outputs[k], tight) for k, value in enumerate(states)],
            *[tf.TensorShape(None)] * scan_count,
        ),
    )
    states, arrays = final[1 : 1 + state_count], final[1 + state_count :]
    output_axes = scan_output_axes or [0] * scan_count
    output_directions = scan_output_directions or [0] * scan_count
    outputs = []
    for array, shape, axis, direction in zip(
        arrays, element_shapes, output_axes, output_directions, strict=True
    ):
        stacked = _stack(array, shape)
        if direction:
            stacked = tf.reverse(stacked, [0])
        axis = common.normalize_axis(axis, stacked.shape.rank if stacked.shape.rank is not None else 1)
        outputs.append(tf.experimental.numpy.moveaxis(stacked, 0, axis) if axis else stacked)
    return (*states, *outputs)


@register("Scan", since=8)
def scan_8(sequence_lens, *inputs, body, num_scan_inputs, directions=None, context):
    """Scan before opset 9: every input has a leading batch axis (scanned along axis 1), and each
    batch entry runs its own scan over its first sequence_lens[b] steps (all of them without);
    scan outputs past an entry's length are zeros, as in the torch table."""
    state_count = len(inputs) - num_scan_inputs
    batch = inputs[0].shape[0]
    if batch is None:
        raise ValueError("Scan (opset 8) needs a batch size known when the graph is built")
    steps = tf.shape(inputs[-1])[1]
    lengths = [None] * batch if sequence_lens is None else [sequence_lens[b] for b in range(batch)]
    longest = steps if sequence_lens is None else tf.reduce_max(sequence_lens)
    results = []
    for entry, length in enumerate(lengths):
        states = [state[entry] for state in inputs[:state_count]]
        sequences = [
            sequence[entry] if length is None else sequence[entry, :length]
            for sequence in inputs[state_count:]
        ]
        results.append(
            scan(
                *states, *sequences, body=body, num_scan_inputs=num_scan_inputs,
                scan_input_directions=directions, context=context,
            )
        )  # fmt: skip
    finals = []
    for index in range(context.num_outputs):
        items = [result[index] for result in results]
        if index >= state_count:
            items = [_pad_steps(item, longest) for item in items]
        finals.append(tf.stack(items))
    return tuple(finals)


def _pad_steps(item, longest):
    padding = [[0, longest - tf.shape(item)[0]]] + [[0, 0]] * (item.shape.rank - 1)
    return tf.pad(item, padding)


@register("Gradient", since=1, domain="ai.onnx.preview.training")
def gradient(*inputs, xs, y, zs=(), forward=None):
    """dy/dx for each named x by tf.GradientTape. `forward` is the slice of the graph from xs (and
    zs) to y, which the builder supplies: the node itself names its y, it does not take it as input."""
    if forward is None:
        raise ValueError("Gradient re-runs the graph from its xs: only the top graph's builder supplies it")
    leaves = list(inputs[: len(xs)])
    with tf.GradientTape() as tape:
        for leaf in leaves:
            tape.watch(leaf)
        (value,) = _outputs(forward, *leaves, *inputs[len(xs) :])
    return tuple(tape.gradient(value, leaves, unconnected_gradients=tf.UnconnectedGradients.ZERO))


# --------------------------------------------------------------------------- sequences


@register("SequenceEmpty", since=11)
def sequence_empty(*, dtype=1):
    return []


@register("SequenceConstruct", since=11)
def sequence_construct(*inputs):
    return list(inputs)


# A sequence a traced Loop carries is a tf.TensorArray (its length known only at run time); these
# handlers take it as well as a Python list.


def _array_index(array: tf.TensorArray, position):
    index = tf.reshape(tf.cast(position, tf.int32), [])
    return tf.where(index < 0, index + array.size(), index)


def _not_in_array(op_type: str):
    return ValueError(
        f"{op_type} on a sequence a traced Loop carries (a TensorArray) supports only appending and "
        "reading; call_eager runs it"
    )


@register("SequenceInsert", since=11)
def sequence_insert(sequence, tensor, position=None):
    if isinstance(sequence, tf.TensorArray):
        if position is not None:
            raise _not_in_array("SequenceInsert with a position")
        return sequence.write(sequence.size(), tensor)
    result = list(sequence)
    index = len(result) if position is None else _position(position, len(result))
    if isinstance(index, int):
        result.insert(index, tensor)
        return result
    # A run-time position: slot i holds the old element i before it, the new one at it, i - 1 after.
    slots = []
    for i in range(len(result) + 1):
        before = result[i] if i < len(result) else tensor
        after = result[i - 1] if i > 0 else tensor
        slots.append(_pick(tf.sign(i - index) + 1, [before, tensor, after]))
    return slots


@register("SequenceAt", since=11)
def sequence_at(sequence, position):
    if isinstance(sequence, tf.TensorArray):
        return sequence.read(_array_index(sequence, position))
    index = _position(position, len(sequence))
    return sequence[index] if isinstance(index, int) else _pick(index, list(sequence))


@register("SequenceErase", since=11)
def sequence_erase(sequence, position=None):
    if isinstance(sequence, tf.TensorArray):
        raise _not_in_array("SequenceErase")
    result = list(sequence)
    index = len(result) - 1 if position is None else _position(position, len(result))
    if isinstance(index, int):
        del result[index]
        return result
    return [_pick(tf.cast(i >= index, tf.int32), [result[i], result[i + 1]]) for i in range(len(result) - 1)]


@register("SequenceLength", since=11)
def sequence_length(sequence):
    if isinstance(sequence, tf.TensorArray):
        return tf.cast(sequence.size(), tf.int64)
    return tf.constant(len(sequence), tf.int64)


@register("ConcatFromSequence", since=11)
def concat_from_sequence(sequence, *, axis, new_axis=0, context):
    if isinstance(sequence, tf.TensorArray):
        info = context.outputs[0]
        rank = len(info.shape) if info is not None and info.shape is not None else None
        return _concat_array(sequence, axis, new_axis, rank)
    if new_axis:
        return tf.stack(sequence, axis=axis)
    return tf.concat(sequence, axis=axis)


def _concat_array(array: tf.TensorArray, axis: int, new_axis: int, rank: int | None):
    """ConcatFromSequence of a TensorArray (`rank`: the output's): along axis 0 its own concat (the
    sizes along it may differ); along another axis, or a new one, the elements stacked (they must
    then agree in shape) and the stacking axis moved there."""
    if axis == 0 and not new_axis:
        return array.concat()
    if rank is None:
        raise ValueError(
            "ConcatFromSequence of a traced Loop's sequence along a non-zero axis needs its rank"
        )
    axis = common.normalize_axis(axis, rank)
    stacked = array.stack()
    stacked.set_shape(tf.TensorShape([None] * (rank if new_axis else rank + 1)))
    moved = tf.experimental.numpy.moveaxis(stacked, 0, axis)
    if new_axis:
        return moved
    shape = tf.shape(moved)
    merged = tf.concat([shape[:axis], [shape[axis] * shape[axis + 1]], shape[axis + 2 :]], 0)
    return tf.reshape(moved, merged)


@register("SplitToSequence", since=11)
def split_to_sequence(x, split=None, *, axis=0, keepdims=1):
    axis = common.normalize_axis(axis, x.shape.rank)
    if split is None:
        parts = tf.unstack(x, axis=axis)
        return [tf.expand_dims(p, axis) for p in parts] if keepdims else list(parts)
    if split.shape.rank == 0:
        dim = x.shape[axis]
        size = _static_int(split)
        sizes = [size] * (dim // size) + ([dim % size] if dim % size else [])
        return list(tf.split(x, sizes, axis=axis))
    return list(tf.split(x, split, axis=axis, num=int(split.shape[0])))


@register("SequenceMap", since=17)
def sequence_map(sequence, *additional, body):
    if isinstance(sequence, tf.TensorArray):
        raise _not_in_array("SequenceMap")
    results = []
    for i in range(len(sequence)):
        extra = [a[i] if isinstance(a, list) else a for a in additional]
        results.append(_outputs(body, sequence[i], *extra))
    return tuple([r[j] for r in results] for j in range(len(body.output_names)))


# --------------------------------------------------------------------------- optionals


@register("Optional", since=15)
def optional(value=None, *, type=None):  # noqa: A002
    return value


@register("OptionalHasElement", since=15)
def optional_has_element(value=None):
    return tf.constant(value is not None)


@register("OptionalGetElement", since=15)
def optional_get_element(value):
    if value is None:
        raise ValueError("OptionalGetElement on an empty optional")
    return value
