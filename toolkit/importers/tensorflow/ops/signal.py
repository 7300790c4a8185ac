"""Spectral operators: DFT, STFT and MelWeightMatrix on tf.signal.

ONNX holds complex values as a trailing dimension of 2 (real, imaginary), or 1 for a real signal.
Lengths and the DFT axis may be graph inputs: they are used as tensors, never read at build time.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from toolkit.importers.tensorflow.ops import maybe_known, register, tf_dtype


def _to_complex(x, pairs=None):
    """[..., 1 or 2] real representation → complex128 tensor [...].

    Double precision whatever the input: the reference's numpy FFT rounds only once, at the end.
    `pairs` says whether the last axis holds (real, imaginary), when x's static shape no longer does.
    """
    x = tf.cast(x, tf.float64)
    pairs = x.shape[-1] == 2 if pairs is None else pairs
    imaginary = x[..., 1] if pairs else tf.zeros_like(x[..., 0])
    return tf.complex(x[..., 0], imaginary)


def _to_real_pairs(y, dtype):
    return tf.cast(tf.stack([tf.math.real(y), tf.math.imag(y)], axis=-1), dtype)


def _fit_length(signal, length):
    """Zero-pad or truncate the last axis to `length` (a scalar tensor), as DFT's dft_length asks."""
    current = tf.shape(signal)[-1]
    signal = signal[..., :length]
    padding = tf.maximum(length - current, 0)
    rank = signal.shape.rank
    return tf.pad(signal, tf.concat([tf.zeros([rank - 1, 2], tf.int32), [[0, padding]]], axis=0))


def _scalar(value, dtype=tf.int32):
    return tf.cast(tf.reshape(value, []), dtype)


def _dft(x, dft_length, axis, inverse, onesided):
    rank = x.shape.rank
    # The transformed axis moves last (before the real/imaginary axis), wherever it is.
    axis = tf.math.floormod(_scalar(axis), rank)
    positions = tf.range(rank - 1)
    perm = tf.concat([tf.boolean_mask(positions, tf.not_equal(positions, axis)), [axis, rank - 1]], axis=0)
    # A run-time axis makes the transpose's static shape unknown: read the pair axis before it.
    signal = _to_complex(tf.transpose(x, perm), pairs=x.shape[-1] == 2)
    # Static sizes where known: tf.signal.irfft with a computed fft_length gives other values when traced.
    size = signal.shape[-1] if signal.shape[-1] is not None else tf.shape(signal)[-1]
    static_length = maybe_known(dft_length) if dft_length is not None else None
    if static_length is not None:
        length = int(np.reshape(static_length, []))
    elif dft_length is not None:
        length = _scalar(dft_length)
    elif inverse and onesided:
        length = 2 * (size - 1)  # ONNX DFT: an inverse one-sided transform defaults to an even length
    else:
        length = size
    if inverse and onesided:
        # ONNX DFT: inverse + onesided is the inverse real FFT, a real result ([..., 1]).
        y = tf.signal.irfft(signal, fft_length=tf.reshape(length, [1]))
        y = tf.cast(y[..., None], x.dtype)
    else:
        signal = _fit_length(signal, length)
        y = tf.signal.ifft(signal) if inverse else tf.signal.fft(signal)
        if onesided:
            y = y[..., : length // 2 + 1]
        y = _to_real_pairs(y, x.dtype)
    return tf.transpose(y, tf.math.invert_permutation(perm))


@register("DFT", since=17)
def dft_17(x, dft_length=None, *, axis=1, inverse=0, onesided=0):
    return _dft(x, dft_length, axis, inverse, onesided)


@register("DFT", since=20)
def dft(x, dft_length=None, axis=None, *, inverse=0, onesided=0):
    return _dft(x, dft_length, -2 if axis is None else axis, inverse, onesided)


@register("STFT", since=17)
def stft(signal, frame_step, window=None, frame_length=None, *, onesided=1):
    """[batch, length, 1 or 2] → [batch, frames, bins, 2]; frames = 1 + (length - frame_length) // step."""
    if frame_length is not None:
        length = _scalar(frame_length)
    elif window is not None:
        length = tf.shape(window)[0]
    else:
        length = tf.shape(signal)[-2]
    frames = tf.signal.frame(_to_complex(signal), length, _scalar(frame_step), axis=-1)
    if window is not None:
        window = tf.cast(window, tf.float64)
        frames = frames * tf.complex(window, tf.zeros_like(window))
    y = tf.signal.fft(frames)
    if onesided:
        y = y[..., : length // 2 + 1]
    return _to_real_pairs(y, signal.dtype)


@register("MelWeightMatrix", since=17)
def mel_weight_matrix(
    num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz, *, output_datatype=1
):
    """[dft_length // 2 + 1, num_mel_bins] triangular filters, with the reference's integer bin edges."""
    num_mel_bins, dft_length, sample_rate = (
        _scalar(v, tf.int64) for v in (num_mel_bins, dft_length, sample_rate)
    )
    lower, upper = (_scalar(v, tf.float64) for v in (lower_edge_hertz, upper_edge_hertz))
    low_mel = 2595 * tf.math.log1p(lower / 700) / math.log(10)
    high_mel = 2595 * tf.math.log1p(upper / 700) / math.log(10)
    points = tf.cast(tf.range(num_mel_bins + 2), tf.float64)
    mel_step = (high_mel - low_mel) / tf.cast(num_mel_bins + 2, tf.float64)
    hertz = 700 * tf.math.expm1((points * mel_step + low_mel) / 2595 * math.log(10))
    edges = tf.cast(
        tf.math.floor(tf.cast(dft_length + 1, tf.float64) * hertz / tf.cast(sample_rate, tf.float64)),
        tf.int64,
    )
    left, centre, right = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    j = tf.range(dft_length // 2 + 1)[:, None]
    ratio = lambda a, b: tf.cast(a, tf.float64) / tf.cast(tf.maximum(b, 1), tf.float64)  # noqa: E731
    rising = tf.where(
        tf.equal(centre, left), tf.cast(tf.equal(j, centre), tf.float64), ratio(j - left, centre - left)
    )
    falling = ratio(right - j, right - centre)
    y = tf.where((j >= left) & (j <= centre), rising, tf.where((j > centre) & (j < right), falling, 0.0))
    return tf.cast(y, tf_dtype(output_datatype))
