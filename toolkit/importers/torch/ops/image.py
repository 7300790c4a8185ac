"""ImageDecoder: an encoded image (a 1-D uint8 tensor of the file's bytes) to [H, W, C] uint8 pixels.

torch decodes no image formats itself; Pillow does (BMP, JPEG, JPEG 2000, PNG, PNM, TIFF, WebP), as
in onnx's reference. The decode runs as one fx call on the bytes at run time.
"""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import torch

from toolkit.importers.torch.ops.table import register
from toolkit.importers.torch.ops.values import leaf


def _check(attributes, context):
    if attributes.get("pixel_format", "RGB") not in ("RGB", "BGR", "Grayscale"):
        return f"pixel_format={attributes['pixel_format']!r} is not one of RGB, BGR, Grayscale"
    if importlib.util.find_spec("PIL") is None:
        return "ImageDecoder needs Pillow: pip install pillow"
    return ""


@leaf
def _decode(encoded, pixel_format):
    import PIL.Image

    image = PIL.Image.open(io.BytesIO(encoded.detach().cpu().numpy().tobytes()))
    if pixel_format == "Grayscale":
        pixels = np.asarray(image.convert("L"))[:, :, None]
    else:
        pixels = np.asarray(image.convert("RGB"))
        pixels = pixels[:, :, ::-1] if pixel_format == "BGR" else pixels
    return torch.from_numpy(np.array(pixels))  # a copy: Pillow's buffer is read-only


@register("ImageDecoder", since=20, check=_check)
def image_decoder(encoded_stream, *, pixel_format="RGB"):
    return _decode(encoded_stream, pixel_format)
