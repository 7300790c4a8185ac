"""GridSample (any number of spatial dims) as gathers of interpolation taps, with the spec's padding modes.

Each output position samples X at the grid's denormalised coordinates; a linear or cubic sample is
the weighted sum over 2 or 4 taps per spatial axis, each tap read with zeros/border/reflection padding.
"""

from __future__ import annotations

import itertools

import tensorflow as tf

from toolkit.importers.tensorflow.ops import register

_MODES = {
    "bilinear": "linear",
    "bicubic": "cubic",
    "linear": "linear",
    "cubic": "cubic",
    "nearest": "nearest",
}


def _reflect(x, low, high):
    """ONNX GridSample: reflect a coordinate by the near border until it lies within [low, high]."""
    span = high - low
    below, above = low - x, x - high
    distance = tf.where(x < low, below, above)
    folds = tf.math.floor(distance / span)
    rest = distance - folds * span
    even = tf.equal(tf.math.floormod(folds, 2), 0)
    from_low = tf.where(even, low + rest, high - rest)
    from_high = tf.where(even, high - rest, low + rest)
    return tf.where(x < low, from_low, tf.where(x > high, from_high, x))


def _cubic_coefficients(t):
    a = -0.75  # ONNX GridSample: Keys' cubic convolution with alpha -0.75
    near = lambda d: ((a + 2) * d - (a + 3)) * d * d + 1  # noqa: E731
    far = lambda d: ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # noqa: E731
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(x, mode):
    """(integer offsets from floor(x), weights) per tap, for one spatial axis."""
    if mode == "nearest":
        return [(x, None)]
    base = tf.math.floor(x)
    t = x - base
    if mode == "linear":
        return [(base, 1 - t), (base + 1, t)]
    return [
        (base + offset, weight) for offset, weight in zip((-1, 0, 1, 2), _cubic_coefficients(t), strict=True)
    ]


def _grid_sample(x, grid, mode, padding_mode, align_corners):
    mode = _MODES[mode]
    spatial = x.shape.rank - 2
    sizes = [tf.shape(x)[2 + i] for i in range(spatial)]
    compute = tf.float64 if grid.dtype == tf.float64 else tf.float32
    grid = tf.cast(grid, compute)
    taps_per_axis = []
    for axis in range(spatial):
        size = tf.cast(sizes[axis], compute)
        normalised = grid[..., spatial - 1 - axis]  # the grid lists coordinates innermost axis first
        if align_corners:
            coordinate, low, high = (normalised + 1) / 2 * (size - 1), 0.0, size - 1
        else:
            coordinate, low, high = ((normalised + 1) * size - 1) / 2, -0.5, size - 0.5
        if mode == "nearest":
            coordinate = tf.math.round(coordinate)  # half to even, as the reference's np.rint
        outside = (coordinate < low) | (coordinate > high)
        if padding_mode == "border":
            coordinate = tf.where(outside, tf.clip_by_value(coordinate, 0.0, size - 1), coordinate)
        elif padding_mode == "reflection":
            coordinate = _reflect(coordinate, low, high)
        axis_taps = []
        for position, weight in _taps(coordinate, mode):
            valid = (position >= 0) & (position <= size - 1)
            if padding_mode == "reflection":
                position = _reflect(position, low, high)
            index = tf.clip_by_value(tf.cast(position, tf.int32), 0, sizes[axis] - 1)
            mask = valid if padding_mode == "zeros" else None
            axis_taps.append((index, weight, mask))
        taps_per_axis.append(axis_taps)
    batch, channels = tf.shape(x)[0], tf.shape(x)[1]
    # X as [N, positions, C] so one batched gather reads every tap.
    flat = tf.transpose(tf.reshape(x, [batch, channels, -1]), [0, 2, 1])
    output_spatial = tf.shape(grid)[1:-1]
    total = None
    for combination in itertools.product(*taps_per_axis):
        index, weight, mask = combination[0]
        for axis in range(1, spatial):
            next_index, next_weight, next_mask = combination[axis]
            index = index * sizes[axis] + next_index
            weight = (
                next_weight if weight is None else weight if next_weight is None else weight * next_weight
            )
            mask = next_mask if mask is None else mask if next_mask is None else mask & next_mask
        values = tf.gather(flat, tf.reshape(index, [batch, -1]), batch_dims=1)  # [N, P, C]
        factor = tf.ones_like(index, compute) if weight is None else weight
        if mask is not None:
            factor = tf.where(mask, factor, 0.0)
        term = values * tf.cast(tf.reshape(factor, [batch, -1, 1]), x.dtype)
        total = term if total is None else total + term
    y = tf.transpose(total, [0, 2, 1])
    return tf.reshape(y, tf.concat([[batch, channels], output_spatial], axis=0))


@register("GridSample", since=16)
def grid_sample_16(x, grid, *, align_corners=0, mode="bilinear", padding_mode="zeros"):
    return _grid_sample(x, grid, mode, padding_mode, align_corners)


@register("GridSample", since=20)
def grid_sample(x, grid, *, align_corners=0, mode="linear", padding_mode="zeros"):
    return _grid_sample(x, grid, mode, padding_mode, align_corners)
