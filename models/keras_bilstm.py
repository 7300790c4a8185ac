"""A Bidirectional(LSTM) sequence classifier over float features [batch, seq, feat]."""

from __future__ import annotations

import numpy as np

FRAMEWORK = "keras"
INPUT_NAMES = ("sequence",)
SEED = 12


def build():
    import keras

    keras.utils.set_random_seed(SEED)
    sequence = keras.Input((12, 8), name="sequence")
    x = keras.layers.Bidirectional(keras.layers.LSTM(16))(sequence)
    logits = keras.layers.Dense(5, name="logits")(x)
    return keras.Model(sequence, logits, name="keras_bilstm")


def example_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((2, 12, 8)).astype(np.float32),)
