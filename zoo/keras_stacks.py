"""Keras layer stacks, functional models with named inputs, called with one tensor or a dict."""

from __future__ import annotations

import numpy as np

SEED = 0


def _rng():
    return np.random.default_rng(SEED)


def _seeded():
    import keras

    keras.utils.set_random_seed(SEED)
    return keras


def bidirectional_gru():
    keras = _seeded()
    inputs = keras.Input((10, 8), name="sequence")
    x = keras.layers.Bidirectional(keras.layers.GRU(16, return_sequences=True))(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(8))(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    return model, (_rng().standard_normal((2, 10, 8)).astype(np.float32),)


def bidirectional_lstm():
    keras = _seeded()
    inputs = keras.Input((10, 8), name="sequence")
    x = keras.layers.Bidirectional(keras.layers.LSTM(16, return_sequences=True))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    return model, (_rng().standard_normal((2, 10, 8)).astype(np.float32),)


def multi_head_attention():
    keras = _seeded()
    inputs = keras.Input((10, 16), name="tokens")
    attended = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)(inputs, inputs)
    x = keras.layers.LayerNormalization()(inputs + attended)
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling1D()(x)))
    return model, (_rng().standard_normal((2, 10, 16)).astype(np.float32),)


def conv1d():
    keras = _seeded()
    inputs = keras.Input((32, 4), name="signal")
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Conv1D(8, 3, dilation_rate=2, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalMaxPooling1D()(x)))
    return model, (_rng().standard_normal((2, 32, 4)).astype(np.float32),)


def conv3d():
    keras = _seeded()
    inputs = keras.Input((8, 8, 8, 2), name="volume")
    x = keras.layers.Conv3D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv3D(4, 3, strides=2)(x)
    model = keras.Model(inputs, x)
    return model, (_rng().standard_normal((2, 8, 8, 8, 2)).astype(np.float32),)


def time_distributed():
    keras = _seeded()
    inputs = keras.Input((5, 12, 12, 3), name="frames")
    x = keras.layers.TimeDistributed(keras.layers.Conv2D(4, 3, activation="relu"))(inputs)
    x = keras.layers.TimeDistributed(keras.layers.GlobalAveragePooling2D())(x)
    model = keras.Model(inputs, keras.layers.LSTM(8)(x))
    return model, (_rng().standard_normal((2, 5, 12, 12, 3)).astype(np.float32),)


def upsampling():
    keras = _seeded()
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.UpSampling2D(2)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
    model = keras.Model(inputs, x)
    return model, (_rng().standard_normal((2, 8, 8, 3)).astype(np.float32),)


def conv2d_transpose():
    keras = _seeded()
    inputs = keras.Input((8, 8, 4), name="features")
    x = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="valid")(x)
    model = keras.Model(inputs, x)
    return model, (_rng().standard_normal((2, 8, 8, 4)).astype(np.float32),)


def embedding_masking():
    keras = _seeded()
    inputs = keras.Input((10,), dtype="int32", name="input_ids")
    x = keras.layers.Embedding(50, 16, mask_zero=True)(inputs)
    x = keras.layers.LSTM(8)(x)  # the mask skips padded steps
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    ids = _rng().integers(1, 50, (2, 10)).astype(np.int32)
    ids[1, 6:] = 0
    return model, (ids,)


def dict_inputs():
    keras = _seeded()
    image = keras.Input((16, 16, 3), name="image")
    metadata = keras.Input((4,), name="metadata")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, activation="relu")(image))
    x = keras.layers.Concatenate()([x, keras.layers.Dense(8)(metadata)])
    model = keras.Model(
        {"image": image, "metadata": metadata},
        {"logits": keras.layers.Dense(3)(x), "embedding": x},
    )
    rng = _rng()
    return model, {
        "metadata": rng.standard_normal((2, 4)).astype(np.float32),
        "image": rng.standard_normal((2, 16, 16, 3)).astype(np.float32),
    }
