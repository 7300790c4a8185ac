"""keras.applications, every family, weights=None, at small input sizes with a 10-class head."""

from __future__ import annotations

import numpy as np

SEED = 0
CLASSES = 10


def _application(name: str, size: int, **options):
    import keras

    keras.utils.set_random_seed(SEED)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), classes=CLASSES, **options
    )
    image = np.random.default_rng(SEED).uniform(0, 255, (2, size, size, 3)).astype(np.float32)
    return model, (image,)


def mobilenet():
    return _application("MobileNet", 32, alpha=0.25)


def mobilenet_v2():
    return _application("MobileNetV2", 32, alpha=0.35)


def mobilenet_v3_small():
    return _application("MobileNetV3Small", 32, alpha=0.75, minimalistic=False)


def mobilenet_v3_large():
    return _application("MobileNetV3Large", 32, alpha=0.75, minimalistic=True)


def efficientnet_b0():
    return _application("EfficientNetB0", 32)


def efficientnet_v2_b0():
    return _application("EfficientNetV2B0", 32)


def resnet50():
    return _application("ResNet50", 32)


def resnet50_v2():
    return _application("ResNet50V2", 32)


def densenet121():
    return _application("DenseNet121", 32)


def inception_v3():
    return _application("InceptionV3", 75)  # its smallest input


def xception():
    return _application("Xception", 71)  # its smallest input


def nasnet_mobile():
    return _application("NASNetMobile", 32)


def convnext_tiny():
    return _application("ConvNeXtTiny", 32)


def vgg16():
    return _application("VGG16", 32)
