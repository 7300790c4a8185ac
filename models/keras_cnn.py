"""The classic tutorial CNN in Keras, NHWC: 28x28x1 image, one conv, two dense layers."""

from __future__ import annotations

import numpy as np

FRAMEWORK = "keras"
INPUT_NAMES = ("image",)
SEED = 10


def build():
    import keras

    keras.utils.set_random_seed(SEED)
    image = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(16, 3, activation="relu")(image)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    logits = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(image, logits, name="keras_cnn")


def example_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((2, 28, 28, 1)).astype(np.float32),)
