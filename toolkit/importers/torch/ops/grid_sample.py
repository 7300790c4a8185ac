"""GridSample: sampling an image at the coordinates of a grid."""

from __future__ import annotations

import torch.nn.functional as F

from toolkit.importers.torch.ops.table import register

# ONNX GridSample mode names (opset 16 and 20 spellings) → torch grid_sample's.
_MODES = {
    "bilinear": "bilinear",
    "linear": "bilinear",
    "nearest": "nearest",
    "bicubic": "bicubic",
    "cubic": "bicubic",
}


def _grid_sample_supported(attributes, context):
    rank = None
    info = context.inputs[0] if context.inputs else None
    if info is not None and info.shape is not None:
        rank = len(info.shape)
    if rank is not None and rank not in (4, 5):
        return f"GridSample on a rank-{rank} input is not supported (torch samples 2-D and 3-D images only)"
    if rank == 5 and _MODES[attributes.get("mode")] == "bicubic":
        return "GridSample with cubic mode on a 3-D image is not supported (torch has no tricubic sampling)"
    return ""


# torch's grid_sample follows the same rules as ONNX's: nearest rounds half to even, cubic uses
# A=-0.75 and applies the padding mode to each of the 4×4 taps.
@register("GridSample", since=16, check=_grid_sample_supported)
def grid_sample_16(x, grid, *, align_corners=0, mode="bilinear", padding_mode="zeros"):
    return F.grid_sample(
        x, grid, mode=_MODES[mode], padding_mode=padding_mode, align_corners=bool(align_corners)
    )


@register("GridSample", since=20, check=_grid_sample_supported)
def grid_sample(x, grid, *, align_corners=0, mode="linear", padding_mode="zeros"):
    return F.grid_sample(
        x, grid, mode=_MODES[mode], padding_mode=padding_mode, align_corners=bool(align_corners)
    )
