"""RNN, GRU and LSTM on torch's fused kernels, when the ONNX node computes exactly what they do.

`torch.rnn_tanh`, `torch.rnn_relu`, `torch.gru` and `torch.lstm` (the calls nn.RNN/nn.GRU/nn.LSTM
make) are recorded as single fx calls: one kernel over the whole sequence instead of one group of
nodes per step, a time dimension free to vary, and code torch.export and `module.code` keep as is.
They cover the default activations without clip, peepholes, coupled input/forget gates or shorter
sequence lengths, and GRU only with linear_before_reset=1 (torch applies the reset gate after the
recurrent matmul). Everything else is unrolled by `rnn.py`.

The ONNX W/R/B stay the module's parameters: the gate reordering torch needs is an index_select
on them in the graph, so gradients reach them.
"""

from __future__ import annotations

import torch

from toolkit.importers.torch.ops.values import NeedsValues, dims, is_proxy, maybe_dtype, maybe_known

# The fused kernels, with the activations they apply (RNN: one kernel per activation).
_RNN_KERNELS = {"tanh": torch.rnn_tanh, "relu": torch.rnn_relu}
_KERNELS = {"GRU": torch.gru, "LSTM": torch.lstm}
_DEFAULT_ACTIVATIONS = {"GRU": ["sigmoid", "tanh"], "LSTM": ["sigmoid", "tanh", "tanh"]}
# The ONNX gate blocks in torch's order: LSTM iofc -> ifgo (g is ONNX's c), GRU zrh -> rzn.
_TORCH_GATE_ORDER = {"RNN": [0], "GRU": [1, 0, 2], "LSTM": [0, 2, 3, 1]}
# CPU and CUDA kernels exist for these; other types keep the unrolled cell.
_FUSED_DTYPES = (torch.float32, torch.float64)


def kernel(
    op_type,
    x,
    sequence_lens=None,
    p=None,
    *,
    activations,
    clip,
    layout,
    linear_before_reset=1,
    input_forget=0,
):
    """The fused torch function for this node, or None when its semantics differ from ONNX's."""
    if clip is not None or maybe_dtype(x) not in _FUSED_DTYPES or layout not in (0, 1):
        return None
    if (op_type == "GRU" and not linear_before_reset) or input_forget:
        return None
    if p is not None and not _all_zeros(p):
        return None
    if sequence_lens is not None and not _full_lengths(x, sequence_lens, layout):
        return None
    names = [name.lower() for name in activations] if activations else None
    if op_type == "RNN":
        # torch has one nonlinearity for both directions.
        first = names[0] if names else "tanh"
        if names and any(name != first for name in names):
            return None
        return _RNN_KERNELS.get(first)
    defaults = _DEFAULT_ACTIVATIONS[op_type]
    if names and names != defaults * (len(names) // len(defaults)):
        return None
    return _KERNELS[op_type]


def _all_zeros(value) -> bool:
    array = maybe_known(value)
    return array is not None and not array.any()


def _full_lengths(x, sequence_lens, layout) -> bool:
    lengths = maybe_known(sequence_lens)
    try:
        steps = dims(x)[1 if layout else 0]
    except NeedsValues:
        return False
    return lengths is not None and steps is not None and bool((lengths == steps).all())


def run(function, x, w, r, b, initial_states, *, op_type, hidden_size, direction, layout, context):
    """Y, Y_h (and Y_c) of the ONNX node, from one call of `function` (see `kernel`)."""
    directions = 2 if direction == "bidirectional" else 1
    gates = len(_TORCH_GATE_ORDER[op_type])
    order = _TORCH_GATE_ORDER[op_type]
    time_axis = 1 if layout else 0
    if direction == "reverse":  # torch runs one direction forwards: reverse time around it
        x = x.flip(time_axis)
    w_ih = _reorder(w, order, hidden_size).unbind(0)
    w_hh = _reorder(r, order, hidden_size).unbind(0)
    weights = []
    if b is not None:
        # ONNX B is [Wb, Rb] per direction: torch's b_ih and b_hh, each in torch's gate order.
        biases = _reorder(b, order + [gates + i for i in order], hidden_size)
        biases = biases.reshape(2 * directions, gates * hidden_size).unbind(0)
        for d in range(directions):
            weights += [w_ih[d], w_hh[d], biases[2 * d], biases[2 * d + 1]]
    else:
        for d in range(directions):
            weights += [w_ih[d], w_hh[d]]
    batch = x.size(0 if layout else 1)
    states = [
        x.new_zeros((directions, batch, hidden_size))
        if state is None
        else (state.transpose(0, 1) if layout else state)
        for state in initial_states
    ]
    hidden = tuple(states) if op_type == "LSTM" else states[0]
    # dropout 0 and one layer: `train` changes nothing computed; True keeps cuDNN's backward available.
    result = function(x, hidden, weights, b is not None, 1, 0.0, True, directions == 2, bool(layout))
    y = result[0]
    outputs = []
    if context.output_used(0):
        if direction == "reverse":
            y = y.flip(time_axis)
        if directions == 1:  # one view instead of two
            outputs.append(y.unsqueeze(2 if layout else 1))
        else:
            y = y.unflatten(2, (directions, hidden_size))  # [.., .., directions, hidden]
            outputs.append(y if layout else y.transpose(1, 2))
    else:
        outputs.append(None)
    for index in range(1, len(initial_states) + 1):
        if context.output_used(index):
            outputs.append(result[index].transpose(0, 1) if layout else result[index])
        else:
            outputs.append(None)
    return tuple(outputs[: context.num_outputs])


def _reorder(weight, blocks, hidden_size):
    """Rows of `weight` (dim 1) regrouped by gate block, in the graph so gradients reach `weight`."""
    if blocks == list(range(len(blocks))):
        return weight
    rows = [block * hidden_size + i for block in blocks for i in range(hidden_size)]
    index = torch.tensor(rows, dtype=torch.int64)
    if not is_proxy(weight):
        index = index.to(weight.device)
    return weight.index_select(1, index)
