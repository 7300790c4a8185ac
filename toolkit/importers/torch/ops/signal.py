"""DFT and STFT, via torch.fft; MelWeightMatrix.

ONNX carries complex values as a trailing dimension: size 1 for a real signal, 2 for (real,
imaginary) pairs; every result is written back in that form.
"""

from __future__ import annotations

import numpy as np
import torch
from onnx import helper

from toolkit.importers.torch.dtypes import to_torch
from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import NeedsValues, dims, maybe_known, maybe_known_ints, rank


def _as_complex(x):
    """The signal without its trailing real/imaginary dimension (complex when it has two parts).

    Computed in double precision, as onnx's reference does, and cast back by `_pairs`."""
    parts = dims(x)[-1]
    if parts is None:
        raise NeedsValues("DFT needs to know whether the signal is real or complex")
    wide = x.to(torch.float64)
    if parts == 1:
        return wide[..., 0]
    return torch.complex(wide[..., 0], wide[..., 1])


def _scalar(value, what):
    """An optional scalar input as an int; one computed while running is read at run time."""
    if value is None:
        return None
    ints = maybe_known_ints(value)
    if ints is None:
        raise NeedsValues(f"{what} is computed by the graph")
    return ints[0]


def _pairs(y, dtype):
    return torch.stack([y.real, y.imag], dim=-1).to(dtype)


def _dft(x, dft_length, axis, inverse, onesided):
    axis = axis % rank(x)  # counted on the input, trailing dimension included
    signal = _as_complex(x)
    length = None if dft_length is None else int(dft_length)
    if inverse and onesided:
        # ONNX DFT: inverse of a one-sided spectrum is the real signal (irfft), last dimension 1
        size = dims(x)[axis]
        if length is None:
            if size is None:
                raise NeedsValues("irfft needs the spectrum's length")
            length = 2 * (size - 1)
        spectrum = signal if signal.is_complex() else signal.to(torch.complex128)
        return torch.fft.irfft(spectrum, n=length, dim=axis).unsqueeze(-1).to(x.dtype)
    y = (torch.fft.ifft if inverse else torch.fft.fft)(signal, n=length, dim=axis)
    if onesided:
        y = y.narrow(axis, 0, y.shape[axis] // 2 + 1)
    return _pairs(y, x.dtype)


@register("DFT", since=17)
def dft_17(input, dft_length=None, *, axis=1, inverse=0, onesided=0):  # noqa: A002
    return _dft(input, _scalar(dft_length, "dft_length"), axis, inverse, onesided)


@register("DFT", since=20)
def dft(input, dft_length=None, axis=None, *, inverse=0, onesided=0):  # noqa: A002
    axis = _scalar(axis, "axis")
    return _dft(input, _scalar(dft_length, "dft_length"), -2 if axis is None else axis, inverse, onesided)


@register("STFT", since=17)
def stft(signal, frame_step, window=None, frame_length=None, *, onesided=1):
    frame_step, frame_length = _scalar(frame_step, "frame_step"), _scalar(frame_length, "frame_length")
    if frame_length is None:
        sizes = dims(window) if window is not None else (None,)
        if sizes[0] is None:
            raise NeedsValues("STFT needs the frame length (from frame_length or the window)")
        frame_length = sizes[0]
    frame_length, frame_step = int(frame_length), int(frame_step)
    frames = _as_complex(signal).unfold(-1, frame_length, frame_step)  # [batch, frames, frame_length]
    if window is not None:
        frames = frames * window.to(torch.float64)
    y = torch.fft.fft(frames, dim=-1)
    if onesided:
        y = y[..., : frame_length // 2 + 1]
    return _pairs(y, signal.dtype)


@register("MelWeightMatrix", since=17)
def mel_weight_matrix(
    num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz, *, output_datatype=1
):
    """[dft_length // 2 + 1, num_mel_bins] triangular filters, with the reference's integer bin edges.

    Its inputs decide its shape, so they are read (while building when constant, else at run time)."""
    values = [
        maybe_known(v) for v in (num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz)
    ]
    if any(v is None for v in values):
        raise NeedsValues("MelWeightMatrix's sizes are known only at run time")
    bins, length, rate = (int(np.asarray(v).reshape(-1)[0]) for v in values[:3])
    lower, upper = (float(np.asarray(v).reshape(-1)[0]) for v in values[3:])
    low_mel, high_mel = (2595 * np.log10(1 + hertz / 700) for hertz in (lower, upper))
    mel_step = (high_mel - low_mel) / (bins + 2)
    hertz = 700 * (10 ** ((np.arange(bins + 2) * mel_step + low_mel) / 2595) - 1)
    edges = np.floor((length + 1) * hertz / rate).astype(np.int64)
    left, centre, right = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    j = np.arange(length // 2 + 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where(
            centre == left, (j == centre).astype(np.float64), (j - left) / np.maximum(centre - left, 1)
        )
        falling = (right - j) / np.maximum(right - centre, 1)
    y = np.where((j >= left) & (j <= centre), rising, np.where((j > centre) & (j < right), falling, 0.0))
    return to_torch(y.astype(helper.tensor_dtype_to_np_dtype(output_datatype)))
