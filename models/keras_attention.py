"""A Transformer block in Keras: MultiHeadAttention and feed-forward, residuals, LayerNormalization."""

from __future__ import annotations

import numpy as np

FRAMEWORK = "keras"
INPUT_NAMES = ("sequence",)
SEED = 13


def build():
    import keras

    keras.utils.set_random_seed(SEED)
    sequence = keras.Input((16, 32), name="sequence")
    attended = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)(sequence, sequence)
    x = keras.layers.LayerNormalization()(sequence + attended)
    hidden = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.LayerNormalization()(x + keras.layers.Dense(32)(hidden))
    x = keras.layers.GlobalAveragePooling1D()(x)
    logits = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(sequence, logits, name="keras_attention")


def example_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((2, 16, 32)).astype(np.float32),)
