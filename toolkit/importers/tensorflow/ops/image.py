"""ImageDecoder: an encoded image (a 1-D uint8 tensor of the file's bytes) to [H, W, C] uint8 pixels.

TF decodes BMP, GIF, JPEG, PNG and WebP itself, inside the tf.function; onnx's reference decodes
with Pillow, so JPEG uses libjpeg's accurate integer DCT (Pillow's) and Grayscale is Pillow's
RGB → L. JPEG 2000, PNM and TIFF have no TF decoder: the decode op fails on them at run time.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.importers.tensorflow.ops import register

_PIXEL_FORMATS = ("RGB", "BGR", "Grayscale")
# Each byte value as a one-byte string: a gather and a join turn the uint8 tensor into the file.
_BYTES = np.array([bytes([value]) for value in range(256)], dtype=object)


def _check(attributes, context):
    if attributes.get("pixel_format", "RGB") not in _PIXEL_FORMATS:
        return f"pixel_format={attributes['pixel_format']!r} is not one of {', '.join(_PIXEL_FORMATS)}"
    return ""


@register("ImageDecoder", since=20, check=_check)
def image_decoder(encoded_stream, *, pixel_format="RGB"):
    contents = tf.strings.reduce_join(tf.gather(tf.constant(_BYTES), tf.cast(encoded_stream, tf.int32)))
    pixels = tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(contents, channels=3, expand_animations=False),
    )
    if pixel_format == "BGR":
        return tf.reverse(pixels, [-1])
    if pixel_format == "Grayscale":
        # Pillow's RGB → L: (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16.
        wide = tf.cast(pixels, tf.int32)
        luma = wide[..., 0] * 19595 + wide[..., 1] * 38470 + wide[..., 2] * 7471 + 0x8000
        return tf.cast(tf.bitwise.right_shift(luma, 16), tf.uint8)[..., None]
    return pixels
