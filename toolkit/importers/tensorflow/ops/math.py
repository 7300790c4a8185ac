"""Reductions (ReduceSum … ReduceLogSumExp) and the softmax family."""

from __future__ import annotations

import tensorflow as tf

from toolkit.importers import common
from toolkit.importers.tensorflow import layout
from toolkit.importers.tensorflow.ops import axes_tensor, maybe_known, register

_REDUCTIONS = {
    "ReduceSum": lambda x, axes, keep: tf.reduce_sum(x, axes, keep),
    "ReduceMean": lambda x, axes, keep: tf.reduce_mean(x, axes, keep),
    "ReduceMax": lambda x, axes, keep: _extreme(tf.reduce_max, x, axes, keep),
    "ReduceMin": lambda x, axes, keep: _extreme(tf.reduce_min, x, axes, keep),
    "ReduceProd": lambda x, axes, keep: tf.reduce_prod(x, axes, keep),
    "ReduceL1": lambda x, axes, keep: tf.reduce_sum(tf.abs(x), axes, keep),
    "ReduceL2": lambda x, axes, keep: _l2(x, axes, keep),
    "ReduceLogSum": lambda x, axes, keep: tf.math.log(tf.reduce_sum(x, axes, keep)),
    "ReduceLogSumExp": lambda x, axes, keep: _log_sum_exp(x, axes, keep),
    "ReduceSumSquare": lambda x, axes, keep: tf.reduce_sum(tf.square(x), axes, keep),
}
# Opset from which `axes` is an input rather than an attribute.
_AXES_INPUT_SINCE = {name: 18 for name in _REDUCTIONS} | {"ReduceSum": 13}


def _extreme(function, x, axes, keep):
    if x.dtype == tf.bool:
        # any/all: an empty set's maximum is False and its minimum True, as ONNX's reference says.
        logical = tf.reduce_any if function is tf.reduce_max else tf.reduce_all
        return logical(x, axes, keep)
    return function(x, axes, keep)


def _l2(x, axes, keep):
    if x.dtype.is_integer:
        return tf.cast(tf.round(tf.sqrt(tf.cast(tf.reduce_sum(x * x, axes, keep), tf.float64))), x.dtype)
    return tf.sqrt(tf.reduce_sum(tf.square(x), axes, keep))


def _log_sum_exp(x, axes, keep):
    if x.dtype == tf.float64 or x.dtype == tf.float32:
        return tf.reduce_logsumexp(x, axes, keep)
    return tf.math.log(tf.reduce_sum(tf.exp(x), axes, keep))


def _reduce(op_type, data, axes, keepdims, noop_with_empty_axes):
    function = _REDUCTIONS[op_type]
    if axes is not None and len(axes) == 0:
        axes = None
    if axes is None and noop_with_empty_axes:
        return data
    if isinstance(data, layout.Transposed):
        # Reduce the stored value along the permuted axes; the kept axes keep their tag.
        perm = data.perm
        reduced = sorted(
            perm.index(a)
            for a in (range(len(perm)) if axes is None else common.normalize_axes(axes, len(perm)))
        )
        result = function(data.stored, reduced, bool(keepdims))
        if keepdims:
            return layout.Transposed(result, perm)
        kept = [a for a in perm if a not in {perm[i] for i in reduced}]
        order = [sorted(kept).index(a) for a in kept]
        return layout.Transposed(result, order) if order != sorted(order) else result
    rank = data.shape.rank
    axes = None if axes is None else common.normalize_axes(axes, rank)
    return function(data, axes, bool(keepdims))


def _register(op_type: str) -> None:
    since = _AXES_INPUT_SINCE[op_type]

    @register(op_type, since=1, layout_mode="any")
    def with_attribute(data, *, axes=None, keepdims=1):
        return _reduce(op_type, data, axes, keepdims, 0)

    @register(op_type, since=since, layout_mode="any")
    def with_input(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
        static = maybe_known(axes)
        if axes is not None and static is None and axes.shape.num_elements() != 0:
            # Axes only known at run time (a graph input under tf.function): TF reduces along a tensor.
            data = layout.to_onnx(data)
            rank = data.shape.rank
            axes = axes_tensor(axes, rank)
            if not noop_with_empty_axes:  # ONNX: empty axes reduce every axis unless noop_with_empty_axes
                axes = tf.cond(tf.size(axes) > 0, lambda: axes, lambda: tf.range(rank))
            return _REDUCTIONS[op_type](data, axes, bool(keepdims))
        axes = None if static is None else common.as_ints(static)
        return _reduce(op_type, data, axes, keepdims, noop_with_empty_axes)


for _op_type in _REDUCTIONS:
    _register(_op_type)


def _coerced(function, x, axis):
    """Softmax before opset 13: flatten to 2-D at `axis`, apply on the last axis, restore."""
    rank = x.shape.rank
    axis = common.normalize_axis(axis, rank)
    shape = tf.shape(x)
    flat = tf.reshape(x, tf.stack([tf.reduce_prod(shape[:axis]), tf.reduce_prod(shape[axis:])]))
    return tf.reshape(function(flat, -1), shape)


def _hardmax(x, axis):
    depth = tf.shape(x)[axis]
    return tf.one_hot(tf.argmax(x, axis=axis), depth, axis=axis, dtype=x.dtype)


for _op_type, _function in {
    "Softmax": lambda x, axis: tf.nn.softmax(x, axis=axis),
    "LogSoftmax": lambda x, axis: tf.nn.log_softmax(x, axis=axis),
    "Hardmax": _hardmax,
}.items():

    def _make(function, op_type):
        @register(op_type, since=1)
        def coerced(x, *, axis=1):
            return _coerced(function, x, axis)

        @register(op_type, since=13, layout_mode="any")
        def along_axis(x, *, axis=-1):
            if isinstance(x, layout.Transposed):
                axis = x.perm.index(common.normalize_axis(axis, x.rank))
                return layout.Transposed(function(x.stored, axis), x.perm)
            return function(x, common.normalize_axis(axis, x.shape.rank))

    _make(_function, _op_type)
