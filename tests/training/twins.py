"""Hand-written twins for transfer-weights: each architecture once in torch, once in Keras.

Factories are `module:function` specs the CLI loads (`tests.training.twins:torch_cnn`)."""

from __future__ import annotations

import numpy as np

SEED = 21


def _images_nchw():
    return (np.random.default_rng(SEED).standard_normal((4, 3, 8, 8)).astype(np.float32),)


def _images_nhwc():
    return (np.random.default_rng(SEED).standard_normal((4, 8, 8, 3)).astype(np.float32),)


def _tokens():
    return (np.random.default_rng(SEED).standard_normal((2, 5, 16)).astype(np.float32),)


def torch_cnn(hidden: int = 8):
    import torch
    from torch import nn

    torch.manual_seed(SEED)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, hidden, 3, padding=1)
            self.bn = nn.BatchNorm2d(hidden)
            self.dense = nn.Linear(hidden, 4)

        def forward(self, x):
            x = torch.relu(self.bn(self.conv(x)))
            return self.dense(x.mean(dim=(2, 3)))

    net = Net().eval()
    with torch.no_grad():  # a "trained" model: running statistics away from 0 / 1
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 1.5)
    return net, _images_nchw()


def keras_cnn(hidden: int = 8):
    import keras

    keras.utils.set_random_seed(SEED + 1)
    image = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(hidden, 3, padding="same")(image)
    x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(4)(x)), _images_nhwc()


def keras_cnn_wide():
    return keras_cnn(hidden=12)


def torch_block():
    """A small transformer block: single-head self-attention and a feed-forward, post-norm."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)

    class Block(nn.Module):
        def __init__(self, width=16):
            super().__init__()
            self.query, self.key, self.value = (
                nn.Linear(width, width),
                nn.Linear(width, width),
                nn.Linear(width, width),
            )
            self.out = nn.Linear(width, width)
            self.norm1 = nn.LayerNorm(width, eps=1e-3)
            self.up, self.down = nn.Linear(width, 32), nn.Linear(32, width)
            self.norm2 = nn.LayerNorm(width, eps=1e-3)

        def forward(self, x):
            q, k, v = self.query(x), self.key(x), self.value(x)
            weights = torch.softmax(q @ k.transpose(1, 2) / 4.0, dim=-1)
            x = self.norm1(x + self.out(weights @ v))
            return self.norm2(x + self.down(torch.relu(self.up(x))))

    return Block().eval(), _tokens()


def keras_block():
    import keras

    keras.utils.set_random_seed(SEED + 1)
    tokens = keras.Input((5, 16), name="tokens")
    q, k, v = keras.layers.Dense(16)(tokens), keras.layers.Dense(16)(tokens), keras.layers.Dense(16)(tokens)
    scores = keras.ops.matmul(q, keras.ops.transpose(k, (0, 2, 1))) / 4.0
    attended = keras.ops.matmul(keras.ops.softmax(scores, axis=-1), v)
    x = keras.layers.LayerNormalization(epsilon=1e-3)(tokens + keras.layers.Dense(16)(attended))
    up = keras.layers.Dense(32, activation="relu")(x)
    y = keras.layers.LayerNormalization(epsilon=1e-3)(x + keras.layers.Dense(16)(up))
    return keras.Model(tokens, y), _tokens()


def _sequences():
    return (np.random.default_rng(SEED).standard_normal((3, 6, 5)).astype(np.float32),)


def torch_bilstm():
    import torch
    from torch import nn

    torch.manual_seed(SEED)

    class Net(nn.Module):
        def __init__(self, hidden=8):
            super().__init__()
            self.lstm = nn.LSTM(5, hidden, batch_first=True, bidirectional=True)
            self.dense = nn.Linear(2 * hidden, 3)

        def forward(self, x):
            _, (h, _) = self.lstm(x)  # final states, forward then backward: Keras's concat merge
            return self.dense(torch.cat([h[0], h[1]], dim=-1))

    return Net().eval(), _sequences()


def keras_bilstm():
    import keras

    keras.utils.set_random_seed(SEED + 1)
    sequence = keras.Input((6, 5), name="sequence")
    x = keras.layers.Bidirectional(keras.layers.LSTM(8))(sequence)
    return keras.Model(sequence, keras.layers.Dense(3)(x)), _sequences()


def torch_bigru():
    import torch
    from torch import nn

    torch.manual_seed(SEED)

    class Net(nn.Module):
        def __init__(self, hidden=8):
            super().__init__()
            self.gru = nn.GRU(5, hidden, batch_first=True, bidirectional=True)
            self.dense = nn.Linear(2 * hidden, 3)

        def forward(self, x):
            _, h = self.gru(x)  # final states, forward then backward: Keras's concat merge
            return self.dense(torch.cat([h[0], h[1]], dim=-1))

    return Net().eval(), _sequences()


def keras_bigru(reset_after: bool = True):
    import keras

    keras.utils.set_random_seed(SEED + 1)
    sequence = keras.Input((6, 5), name="sequence")
    gru = keras.layers.GRU(8, reset_after=reset_after, bias_initializer="random_normal")
    x = keras.layers.Bidirectional(gru)(sequence)
    return keras.Model(sequence, keras.layers.Dense(3)(x)), _sequences()


def keras_bigru_reset_before():
    return keras_bigru(reset_after=False)
