"""A depthwise-separable CNN with BatchNormalization (random moving statistics) and a dense head."""

from __future__ import annotations

import numpy as np

FRAMEWORK = "keras"
INPUT_NAMES = ("image",)
SEED = 11


def build():
    import keras

    keras.utils.set_random_seed(SEED)
    image = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(image)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.SeparableConv2D(32, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(image, logits, name="keras_separable_cnn")
    randomise_batch_norm(model, SEED)
    return model


def randomise_batch_norm(model, seed: int) -> None:
    """Give every BatchNormalization non-trivial statistics, so parity checks exercise them."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype(np.float32))
            layer.beta.assign(rng.uniform(-0.2, 0.2, channels).astype(np.float32))
            layer.moving_mean.assign(rng.uniform(-0.5, 0.5, channels).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, channels).astype(np.float32))


def example_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((2, 32, 32, 3)).astype(np.float32),)
